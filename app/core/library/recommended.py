"""The models Hearth recommends to start with: a short list shipped inside the package, readable offline.

Each entry names a real Hugging Face repo and one GGUF file in it, with the file's size and sha256 as the hub
lists them, its licence, and the model's shape (layers, heads, context). The shape is what the fit estimate
needs, so every entry gets a fit badge for this machine before anything is downloaded. The download itself goes
through the usual pipeline, which pins the repo's current commit and checks the hub's own sha256; the sha256
here records which file was reviewed for the list.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from app.core.library.fit import FitEstimate, MemoryBudget, estimate

LIST_FILE = "recommended.json"
SHAPE_KEYS = ("context_length", "layers", "n_embd", "n_ff", "n_head", "n_head_kv", "head_dim", "vocab_size")
TEXT_KEYS = ("id", "name", "family", "about", "repo_id", "filename", "quant", "licence", "licence_url")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_REPO = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class RecommendedListError(ValueError):
    """The list cannot be used; the message names the entry and the field."""


@dataclass(frozen=True)
class RecommendedModel:
    id: str
    name: str
    family: str
    about: str
    repo_id: str
    filename: str
    size: int
    sha256: str
    quant: str
    licence: str
    licence_url: str
    parameters: int
    shape: dict[str, Any]

    @property
    def info(self) -> dict[str, Any]:
        """The entry as a library summary (`metadata.shape_from_gguf`'s keys), for the fit estimate and labels."""
        return {**self.shape, "parameters": self.parameters, "weights_bytes": self.size, "quant": self.quant}

    def fit(self, n_ctx: int, *, gpu_layers: int = 0, budget: MemoryBudget | None = None) -> FitEstimate:
        """Will it fit here, at the chat's context size (or the model's own, if that is smaller)?"""
        n_ctx = min(n_ctx, self.shape["context_length"])
        return estimate(self.info, n_ctx, backend="llama.cpp", gpu_layers=gpu_layers, budget=budget)


def _entry(raw: Any, position: int, source: str) -> RecommendedModel:
    where = f"{source}, entry {position + 1}"
    if not isinstance(raw, dict):
        raise RecommendedListError(f"{where} is not an object.")
    where = f"{source}, entry {position + 1} ({raw.get('id') or raw.get('name') or 'no id'})"
    for key in TEXT_KEYS:
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise RecommendedListError(f"{where}: '{key}' is missing or empty.")
    for key in ("size", "parameters"):
        if not isinstance(raw.get(key), int) or isinstance(raw[key], bool) or raw[key] <= 0:
            raise RecommendedListError(f"{where}: '{key}' must be a positive whole number.")
    if not _REPO.match(raw["repo_id"]):
        raise RecommendedListError(f"{where}: repo_id {raw['repo_id']!r} is not of the form owner/name.")
    if not raw["filename"].lower().endswith(".gguf"):
        raise RecommendedListError(f"{where}: filename {raw['filename']!r} is not a .gguf file.")
    if not isinstance(raw.get("sha256"), str) or not _SHA256.match(raw["sha256"]):
        raise RecommendedListError(f"{where}: sha256 must be 64 lower-case hex digits.")
    shape = raw.get("shape")
    if not isinstance(shape, dict) or not isinstance(shape.get("architecture"), str):
        raise RecommendedListError(f"{where}: 'shape' must name the architecture.")
    for key in SHAPE_KEYS:
        value = shape.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise RecommendedListError(f"{where}: shape '{key}' must be a positive whole number.")
    return RecommendedModel(
        **{key: raw[key].strip() for key in TEXT_KEYS},
        size=raw["size"],
        sha256=raw["sha256"],
        parameters=raw["parameters"],
        shape={**shape, "head_dim_v": shape.get("head_dim_v") or shape["head_dim"]},
    )


def parse(data: Any, source: str = LIST_FILE) -> list[RecommendedModel]:
    if not isinstance(data, dict) or not isinstance(data.get("models"), list) or not data["models"]:
        raise RecommendedListError(f"{source} has no 'models' list.")
    models = [_entry(raw, i, source) for i, raw in enumerate(data["models"])]
    seen: set[str] = set()
    for m in models:
        if m.id in seen:
            raise RecommendedListError(f"{source}: the id {m.id!r} is used twice.")
        seen.add(m.id)
    return models


def load(path: Path | None = None) -> list[RecommendedModel]:
    """The shipped list (or the list at `path`), smallest download first."""
    try:
        if path is None:
            text = resources.files("app.core.library").joinpath(LIST_FILE).read_text(encoding="utf-8")
            source = LIST_FILE
        else:
            text, source = path.read_text(encoding="utf-8"), str(path)
        data = json.loads(text)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RecommendedListError(f"The list of recommended models cannot be read ({exc}). Reinstall Hearth.") from exc
    return sorted(parse(data, source), key=lambda m: m.size)
