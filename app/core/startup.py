"""Opening Hearth's state: the database (migrated, recovered), settings, and the starter model registered."""

from __future__ import annotations

from dataclasses import dataclass

from app import paths
from app.core.engine.host import ModelHost
from app.core.library.registry import ensure_starter_registered
from app.core.settings import Settings
from app.core.storage.db import Database
from app.core.storage.recently_deleted import purge_deleted
from app.core.training.runner import fail_orphaned


@dataclass
class Core:
    db: Database
    settings: Settings

    def new_host(self) -> ModelHost:
        """A model host that loads with the current settings, also after they change (the next load feels it)."""
        s = self.settings
        host = ModelHost(n_threads=s["n_threads"], n_ctx=s["context_length"], n_gpu_layers=s["gpu_layers"])

        def follow(key: str, value) -> None:
            attribute = {"n_threads": "n_threads", "context_length": "n_ctx", "gpu_layers": "n_gpu_layers"}.get(key)
            if attribute:  # one attribute write: the engine thread reads them only when it loads
                setattr(host, attribute, value)

        s.subscribe(follow)
        return host


def open_core() -> Core:
    db = Database.open(paths.database_file())
    with db.session() as session:
        ensure_starter_registered(session)
        purge_deleted(session)  # what has waited in Recently deleted long enough goes for good
    fail_orphaned(db)
    return Core(db=db, settings=Settings())
