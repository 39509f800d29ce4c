"""How long an engine started by a window lives, once it runs: `POST /hearth/v1/keep-serving` tells it to stay up
when that window ends (the user turned on "Keep serving after the window closes" after the engine had started
with `--parent-pid`). Only the window's token opens it.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Depends

from app.service.auth import require_token
from app.service.state import EngineState, engine_state

log = logging.getLogger(__name__)

router = APIRouter(prefix="/hearth/v1", dependencies=[Depends(require_token)])


def keeps_serving(state: EngineState) -> bool:
    """Whether the end of the parent process should leave the engine running."""
    return bool(state.__dict__.get("keep_serving", False))


@router.post("/keep-serving")
def keep_serving(state: EngineState = Depends(engine_state)) -> dict:
    state.__dict__["keep_serving"] = True
    log.info("the engine keeps serving after the window that started it closes")
    return {"keep_serving": True}
