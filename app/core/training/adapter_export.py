"""Export an adapter merged into its base model (`hearth adapters export`, which the Training tab runs as a child):
find the adapter and its base, pick where the result goes, merge, and optionally add it to the library."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from app import paths
from app.core.storage.db import Database
from app.core.storage.models import Adapter
from app.core.training.jobs import slug
from app.core.training.merge import MergeError, Progress, merge_gguf, merge_hf

KINDS = {"gguf-f16": "GGUF, 16-bit (f16)", "gguf-q8_0": "GGUF, 8-bit (q8_0)", "hf": "Hugging Face folder (safetensors)"}


@dataclass(frozen=True)
class ExportPlan:
    adapter_id: int
    adapter_name: str
    base_name: str
    base_path: Path
    base_format: str
    peft_dir: Path
    gguf_adapter: Path | None
    kind: str
    out: Path


@dataclass(frozen=True)
class Exported:
    path: Path
    model_id: int | None
    model_name: str | None


def default_out(adapter_name: str, kind: str, folder: Path | None = None) -> Path:
    """A new path in the models folder, numbered when the name is taken."""
    folder = Path(folder or paths.models_dir())
    stem = f"{slug(adapter_name, 60, 'adapter')}-merged" + ("" if kind == "hf" else f"-{kind.split('-', 1)[1]}")
    suffix = "" if kind == "hf" else ".gguf"
    candidate, n = folder / f"{stem}{suffix}", 2
    while candidate.exists():
        candidate, n = folder / f"{stem}-{n}{suffix}", n + 1
    return candidate


def plan_export(db: Database, adapter_name_or_id: str, kind: str, out: Path | None = None) -> ExportPlan:
    from app.core.library.registry import get_model
    from app.core.training.adapters import find_adapter

    if kind not in KINDS:
        raise MergeError(f"Export as one of {', '.join(KINDS)}, not {kind}.")
    with db.session() as session:
        row: Adapter | None = find_adapter(session, adapter_name_or_id)
        if row is None:
            raise LookupError(f"No adapter called {adapter_name_or_id!r}. See `hearth adapters list`.")
        base = get_model(session, row.base_model_id) if row.base_model_id else None
        if base is None:
            raise MergeError(f"The base model of {row.name} ({row.base_name}) is no longer in the library; "
                             "add it again to merge.")
        plan = ExportPlan(row.id, row.name, base.name, Path(base.path), base.format, Path(row.peft_dir),
                          Path(row.gguf_path) if row.gguf_path else None, kind,
                          Path(out) if out else default_out(row.name, kind))
    if kind.startswith("gguf") and (plan.base_format != "gguf" or plan.gguf_adapter is None):
        raise MergeError(f"{plan.base_name} is a Hugging Face folder, so Hearth can merge into it only as a folder "
                         "(choose the Hugging Face format); llama.cpp's converter can turn that into a GGUF.")
    if plan.out.exists() and (plan.out.is_file() or any(plan.out.iterdir())):
        raise MergeError(f"{plan.out} already exists. Pick a new name.")
    return plan


def run_export(plan: ExportPlan, *, dtype: str = "float16", cache_dir: Path | None = None,
               progress: Progress | None = None) -> Path:
    """Write the merged model. The Hugging Face route imports torch: call it from a child process."""
    name = f"{plan.base_name} + {plan.adapter_name}"
    if plan.kind.startswith("gguf"):
        return merge_gguf(plan.base_path, plan.gguf_adapter, plan.out, plan.kind.split("-", 1)[1], name=name,
                          progress=progress)
    base_folder = plan.base_path
    if plan.base_format == "gguf":
        from app.core.training.base_model import plain_copy

        base_folder = plain_copy(plan.base_path, Path(cache_dir or paths.cache_dir()),
                                 lambda message: progress and progress(0, 4, message))
    return merge_hf(base_folder, plan.peft_dir, plan.out, dtype, progress=progress)


def add_to_library(db: Database, plan: ExportPlan, path: Path) -> Exported:
    from app.core.library.registry import register_model

    with db.session() as session:
        label = {"gguf-f16": "f16", "gguf-q8_0": "q8_0", "hf": "HF"}[plan.kind]
        model = register_model(session, path, name=f"{plan.adapter_name} (merged, {label})", source="merged")
        return Exported(path, model.id, model.name)
