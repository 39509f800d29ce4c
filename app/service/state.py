"""What every route of the engine service reaches: the core, the model owner, the event hub and the keys.

The app factory (`server.py`) builds one `EngineState` and puts it on `app.state.engine`; routes get it with
`Depends(engine_state)`. Two keys open the service: the internal token from `engine.json` (the window's) and the
user's API key from the settings, when one is set.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field

from fastapi import Request

from app.core.startup import Core
from app.service.hub import EventHub
from app.service.model_jobs import ModelJobs
from app.service.scheduler import Scheduler


@dataclass
class EngineState:
    core: Core
    scheduler: Scheduler
    hub: EventHub = field(default_factory=EventHub)
    token: str = ""  # the internal token (engine.json); always accepted
    api_key: str | None = None  # the user's key for OpenAI clients; None: the /v1 routes need no key
    jobs: ModelJobs | None = None  # what runs on the owner thread (loads, replies); built from the rest if not given

    def __post_init__(self) -> None:
        if self.jobs is None:
            self.jobs = ModelJobs(self.scheduler.host, self.core.db, self.hub)

    def token_matches(self, presented: str | None) -> bool:
        return bool(presented) and hmac.compare_digest(presented, self.token)

    def api_key_matches(self, presented: str | None) -> bool:
        """For the OpenAI routes: no key set means open (on loopback); otherwise the key or the internal token."""
        if self.api_key is None:
            return True
        return bool(presented) and (hmac.compare_digest(presented, self.api_key) or self.token_matches(presented))


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


def engine_state(request: Request) -> EngineState:
    return request.app.state.engine
