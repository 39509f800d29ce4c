"""`hearth models ...`: the Models tab for people who script (list, pull, import, rm), on the same core calls."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from app.core.engine.gguf_check import GGUFError
from app.core.engine.host import resolve_backend
from app.core.library import registry, scan
from app.core.library.fit import MemoryBudget, estimate
from app.core.library.metadata import ModelFolderError, parameter_label
from app.core.startup import open_core
from app.core.units import format_bytes


def add_parser(sub) -> None:
    models = sub.add_parser("models", help="list, download, import and remove models")
    msub = models.add_subparsers(dest="models_what", required=True)
    ls = msub.add_parser("list", help="the models Hearth knows, with what they are and whether they fit")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    ls.add_argument("--context", type=int, help="context size for the fit column (default: the app's setting)")
    ls.add_argument("--no-scan", action="store_true", help="do not look for new files first")
    pull = msub.add_parser("pull", help="download a model from the Hugging Face Hub (resumable, verified)")
    pull.add_argument("repo", help="owner/name on the hub")
    pull.add_argument("file", nargs="?", help="the .gguf file in the repo (default: the whole model if it is not GGUF)")
    pull.add_argument("--revision", help="branch, tag or commit (default: main, pinned to its commit)")
    imp = msub.add_parser("import", help="add a .gguf file or a Hugging Face folder")
    imp.add_argument("path", help="a .gguf file, or a Hugging Face folder (config.json + .safetensors)")
    imp.add_argument("--in-place", action="store_true", help="use the file where it is instead of copying it")
    imp.add_argument("--name", help="the name to list it under (default: from the file)")
    rm = msub.add_parser("rm", help="remove a model from the library")
    rm.add_argument("name", help="model name or id")
    rm.add_argument("--delete-files", action="store_true", help="also delete its file or folder from disk")


def run(args) -> int:
    if args.models_what == "pull":
        from app.cli_pull import pull

        return pull(args)
    core = open_core()
    try:
        return {"list": _list, "import": _import, "rm": _rm}[args.models_what](core, args)
    finally:
        core.db.close()


def _err(message: str, code: int = 1) -> int:
    print(f"hearth: {message}", file=sys.stderr)
    return code


def _list(core, args) -> int:
    n_ctx = args.context or core.settings["context_length"]
    with core.db.session() as session:
        report = None if args.no_scan else scan.scan(session)
        models = registry.list_models(session)
    for problem in report.problems if report else []:
        print(f"hearth: skipped {problem}", file=sys.stderr)
    rows, budget = [], MemoryBudget.now()
    for m in models:
        backend = resolve_backend(m.format)
        fit = estimate(m.info, n_ctx, backend=backend, gpu_layers=core.settings["gpu_layers"], budget=budget)
        rows.append({
            "id": m.id, "name": m.name, "format": m.format, "backend": backend, "size_bytes": m.size_bytes,
            "parameters": parameter_label(m.info), "quant": m.info.get("quant"),
            "context_length": m.info.get("context_length"), "architecture": m.info.get("architecture"),
            "fit": fit.verdict, "fit_context": n_ctx, "estimate_bytes": fit.total,
            "measured_bytes": registry.measured_peak(m, n_ctx, backend), "default": m.is_default,
            "missing": not m.exists, "path": m.path, "repo_id": m.repo_id, "revision": m.revision,
        })
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("No models yet. Try: hearth models pull OWNER/REPO FILE.gguf, or hearth models import PATH")
        return 0
    header = ("", "NAME", "FORMAT", "SIZE", "PARAMS", "QUANT", "CONTEXT", f"FIT@{n_ctx}")
    table = [header] + [
        (
            "*" if r["default"] else ("!" if r["missing"] else ""), r["name"], r["format"],
            format_bytes(r["size_bytes"]), r["parameters"], r["quant"] or "?",
            f"{r['context_length']:,}" if r["context_length"] else "?", r["fit"],
        )
        for r in rows
    ]
    widths = [max(len(str(row[i])) for row in table) for i in range(len(header))]
    for row in table:
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths)).rstrip())
    if any(r["missing"] for r in rows):
        print("! = file missing (moved or on a disconnected drive)", file=sys.stderr)
    return 0


def _import(core, args) -> int:
    try:
        with core.db.session() as session:
            ref = scan.import_model(session, Path(args.path), copy=not args.in_place, name=args.name)
    except (GGUFError, ModelFolderError, ValueError, OSError) as exc:
        return _err(str(exc))
    print(f"Imported {ref.name} ({ref.format}, {format_bytes(ref.size_bytes)}) from {ref.path}")
    return 0


def _rm(core, args) -> int:
    with core.db.session() as session:
        ref = registry.find_model(session, args.name)
    if ref is None:
        return _err(f"no single model matches '{args.name}'. See: hearth models list")
    try:  # the removal is committed before any file is deleted
        deleted = registry.remove_model(core.db, ref.id, delete_files=args.delete_files)
    except (ValueError, LookupError, OSError) as exc:
        return _err(str(exc))
    print(f"Removed {ref.name}" + (f" and deleted {', '.join(deleted)}" if deleted else " (files kept on disk)"))
    return 0
