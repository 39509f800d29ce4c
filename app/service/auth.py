"""The two keys as FastAPI dependencies: the window's routes need the internal token, the OpenAI routes the
user's API key when one is set (the internal token opens them too)."""

from __future__ import annotations

from fastapi import Depends, HTTPException, Request

from app.service.state import EngineState, bearer, engine_state

UNAUTHORIZED_HEADERS = {"WWW-Authenticate": "Bearer"}


def require_token(request: Request, state: EngineState = Depends(engine_state)) -> None:
    if not state.token_matches(bearer(request)):
        raise HTTPException(401, "This route needs the engine's token (Authorization: Bearer, from engine.json).",
                            headers=UNAUTHORIZED_HEADERS)


def api_key_ok(request: Request) -> bool:
    """For the OpenAI routes, which answer a refusal in OpenAI's own error shape."""
    return engine_state(request).api_key_matches(bearer(request))
