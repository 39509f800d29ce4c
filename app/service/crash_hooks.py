"""A switch for tests of crash handling, read only by the engine process.

HEARTH_ENGINE_ABORT_ON_LOAD=<file name>: the engine aborts (SIGABRT, as a llama.cpp assert would) when it starts
loading a model whose file has that name. The window's tests use it to check what happens when a model takes the
engine down while loading; nothing else sets it.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

ABORT_ON_LOAD = "HEARTH_ENGINE_ABORT_ON_LOAD"

log = logging.getLogger(__name__)


def abort_if_asked(model_path: str | Path) -> None:
    name = os.environ.get(ABORT_ON_LOAD)
    if name and Path(model_path).name == name:
        log.error("aborting on purpose while loading %s (%s is set)", name, ABORT_ON_LOAD)
        for handler in logging.getLogger().handlers:
            handler.flush()
        os.abort()
