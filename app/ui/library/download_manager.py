"""Runs downloads, one worker thread each, and reports their progress on the main thread.

The core does the work (`create_download`, `run_download`); this class owns the threads and pause / cancel
flags. Progress arrives from worker threads through a relay whose signals are queued to this main-thread object.
Downloads running when the app closes (left `queued`) or when it was killed (left `downloading`) are resumed on
the next start; a download the user paused stays paused. The download core (and huggingface_hub under it) is
imported on first use, so the window does not wait for it.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal, Slot
from sqlalchemy import select

from app.core.storage.db import Database
from app.core.storage.models import Download, DownloadStatus
from app.ui.background import run_in_background

if TYPE_CHECKING:
    from app.core.library.downloads import DownloadControl, DownloadInfo, DownloadPlan, DownloadProgress

log = logging.getLogger(__name__)


def _core():
    from app.core.library import downloads

    return downloads


class _Relay(QObject):
    """Created on the main thread; worker threads emit these, Qt queues them to the main thread."""

    progressed = Signal(object)  # DownloadProgress
    ended = Signal(object)  # DownloadInfo


class DownloadManager(QObject):
    download_added = Signal(int)
    download_progress = Signal(object)  # DownloadProgress
    download_finished = Signal(object)  # DownloadInfo, whatever the outcome (done, paused, failed, cancelled)
    model_added = Signal(int)  # a finished download was registered in the library
    download_refused = Signal(str)  # could not even start: offline, not found, gated, no disk space ...
    download_already_planned = Signal(str)  # asked again (a double click): nothing added, the line says why

    def __init__(self, db: Database, parent: QObject | None = None):
        super().__init__(parent)
        self.db = db
        self._controls: dict[int, DownloadControl] = {}
        self._threads: dict[int, threading.Thread] = {}
        self._relay = _Relay()
        self._relay.progressed.connect(self._on_progress)
        self._relay.ended.connect(self._on_ended)

    # --- queries ---------------------------------------------------------------------------------------------
    def is_running(self, download_id: int) -> bool:
        thread = self._threads.get(download_id)
        return thread is not None and thread.is_alive()

    def list(self) -> list[DownloadInfo]:
        with self.db.session() as session:
            return _core().list_downloads(session)

    # --- actions ---------------------------------------------------------------------------------------------
    def start(self, repo_id: str, filename: str, revision: str | None = None) -> None:
        """Plan the download off the UI thread (it asks the hub for size, hash and commit), then run it."""

        def plan() -> DownloadPlan:
            return _core().plan_download(self.db, repo_id, filename, revision)

        run_in_background(plan, self._planned, self._refused)

    def start_folder(self, repo_id: str, revision: str | None = None) -> None:
        """A Hugging Face (safetensors) model: its config, tokenizer and weight files, registered once all arrive."""

        def plan() -> DownloadPlan:
            return _core().plan_folder_download(self.db, repo_id, revision)

        run_in_background(plan, self._planned, self._refused)

    def _planned(self, plan: DownloadPlan) -> None:
        if plan.already is not None:
            self.download_already_planned.emit(plan.notice)
        for download_id in plan.ids:
            if plan.already is None:
                self.download_added.emit(download_id)
            if plan.already != "downloaded":
                self.resume(download_id)  # a paused or failed one goes on; a running one is left alone

    def _refused(self, exc: BaseException) -> None:
        from app.core.library.hub import HubError

        self.download_refused.emit(exc.message if isinstance(exc, HubError) else str(exc))

    def resume(self, download_id: int) -> None:
        if self.is_running(download_id):
            return
        control = _core().DownloadControl()
        self._controls[download_id] = control
        relay = self._relay

        def work() -> None:
            try:
                info = _core().run_download(self.db, download_id, control, relay.progressed.emit)
            except Exception as exc:  # noqa: BLE001 - e.g. already running in another window
                log.warning("download %s: %s", download_id, exc)
                with self.db.session() as session:
                    info = _core().get_download(session, download_id)
                relay.ended.emit(info)
                return
            relay.ended.emit(info)

        thread = threading.Thread(target=work, name=f"download-{download_id}", daemon=True)
        self._threads[download_id] = thread
        thread.start()

    def pause(self, download_id: int) -> None:
        control = self._controls.get(download_id)
        if control is not None:
            control.pause()

    def cancel(self, download_id: int) -> None:
        """Stop and throw away the partial file. A download that is not running is simply removed."""
        control = self._controls.get(download_id)
        if control is not None and self.is_running(download_id):
            control.cancel()
            return
        self.remove(download_id)

    def remove(self, download_id: int) -> None:
        if self.is_running(download_id):
            return
        try:
            _core().delete_download(self.db, download_id)
        except RuntimeError as exc:
            self.download_refused.emit(str(exc))
            return
        self.download_finished.emit(None)

    # --- worker results (main thread) ------------------------------------------------------------------------
    @Slot(object)
    def _on_progress(self, progress: DownloadProgress) -> None:
        self.download_progress.emit(progress)

    @Slot(object)
    def _on_ended(self, info: DownloadInfo | None) -> None:
        if info is not None:
            self._threads.pop(info.id, None)
            self._controls.pop(info.id, None)
            if info.status == DownloadStatus.DONE and info.model_id is not None:
                self.model_added.emit(info.model_id)
        self.download_finished.emit(info)

    # --- start-up and shut-down ------------------------------------------------------------------------------
    def resume_after_restart(self) -> list[int]:
        """Resume what was running when the app last closed or was killed; returns those ids."""
        with self.db.session() as session:
            ids = list(session.scalars(select(Download.id).where(Download.status.in_(DownloadStatus.ACTIVE))))
        _core().resume_interrupted(self.db)  # a dead process's downloads become paused; ours resume below
        for download_id in ids:
            self.resume(download_id)
        return ids

    def shutdown(self, timeout_s: float = 5.0) -> None:
        """Pause everything running (the partial files stay) and remember to resume it next time."""
        running = [i for i in list(self._threads) if self.is_running(i)]
        for download_id in running:
            self._controls[download_id].pause()
        for download_id in running:
            self._threads[download_id].join(timeout_s)
        with self.db.session() as session:  # paused by closing, not by the user: queue them for the next start
            for download_id in running:
                row = session.get(Download, download_id)
                if row is not None and row.status == DownloadStatus.PAUSED:
                    row.status = DownloadStatus.QUEUED
