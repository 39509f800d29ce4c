"""The window as a client of the engine process (`hearth serve`): the controller the tabs use, and the supervisor
that starts, joins and restarts the engine."""

from app.ui.engine.controller import COALESCE_S, EngineController, EngineWorker

__all__ = ["COALESCE_S", "EngineController", "EngineWorker"]
