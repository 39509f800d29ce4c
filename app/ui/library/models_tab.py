"""The Models tab: the library on this computer, the hub, and downloads; wired to the engine in one place."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import QSplitter, QTabWidget, QVBoxLayout, QWidget

from app.core.library.registry import get_model
from app.core.startup import Core
from app.ui.engine import EngineController
from app.ui.library.download_manager import DownloadManager
from app.ui.library.downloads_panel import DownloadsPanel
from app.ui.library.hub_page import HubPage
from app.ui.library.library_page import LibraryPage


class ModelsTab(QWidget):
    use_model_requested = Signal(int)  # the chat should switch to this model
    library_changed = Signal()

    def __init__(self, core: Core, engine: EngineController, parent: QWidget | None = None):
        super().__init__(parent)
        self.core, self.engine = core, engine
        self.library = LibraryPage(core.db, core.settings["context_length"], core.settings["gpu_layers"])
        self.pages = QTabWidget()
        self.pages.setObjectName("subTabs")
        self.hub = HubPage(core.settings["context_length"], core.settings["gpu_layers"])
        self.pages.addTab(self.library, "On this computer")
        self.pages.addTab(self.hub, "Find on the Hub")
        self.downloads = DownloadManager(core.db, self)
        self.downloads_panel = DownloadsPanel(self.downloads)
        self.splitter = splitter = QSplitter(Qt.Vertical)
        splitter.addWidget(self.pages)
        splitter.addWidget(self.downloads_panel)
        splitter.setStretchFactor(0, 1)
        splitter.setSizes([500, 240])  # room for three downloads at 680 px high
        self._downloads_listed = -1
        self.downloads_panel.rows_changed.connect(self._downloads_listed_changed)
        self._downloads_listed_changed(0)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)

        self.hub.download_requested.connect(self.downloads.start)
        self.hub.folder_download_requested.connect(self.downloads.start_folder)
        self.hub.recommended_download_requested.connect(self.downloads.start)
        self.downloads.download_refused.connect(self.hub.message.setText)
        self.downloads.download_already_planned.connect(self.hub.message.setText)
        self.downloads.model_added.connect(self._downloaded)

        self.library.load_requested.connect(self.use_model_requested)
        self.library.unload_requested.connect(engine.unload)
        self.library.release_requested.connect(engine.release)
        self.library.benchmark_requested.connect(self._benchmark)
        self.library.library_changed.connect(self.library_changed)
        w = engine.worker
        w.loaded_model_changed.connect(self._loaded_changed)
        w.model_released.connect(self.library.model_released)
        w.memory_measured.connect(self._measured)
        w.benchmark_finished.connect(self._benchmark_done)
        w.benchmark_failed.connect(self._benchmark_failed)
        engine.engine_crashed.connect(self._engine_crashed)  # a model that crashed it while loading is marked now

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not getattr(self, "_scanned_once", False):  # look for new files the first time the tab is opened
            self._scanned_once = True
            self.library.rescan()

    @Slot(str, str)
    def _engine_crashed(self, _summary: str, _details: str) -> None:
        self.library.refresh()

    @Slot(int)
    def _downloaded(self, model_id: int) -> None:
        self.library.refresh()
        self.library.select(model_id)
        self.library_changed.emit()

    @Slot(int)
    def _downloads_listed_changed(self, count: int) -> None:
        """An empty downloads list shrinks to its heading; the first download opens it to three rows."""
        if (count == 0) == (self._downloads_listed == 0):
            return
        self._downloads_listed = count
        total = sum(self.splitter.sizes()) or 740
        panel = self.downloads_panel.sizeHint().height() if count == 0 else 240
        self.splitter.setSizes([total - panel, panel])

    def resume_downloads(self) -> None:
        self.downloads.resume_after_restart()
        self.downloads_panel.refresh()

    def shutdown(self) -> None:
        self.downloads.shutdown()

    @Slot(int)
    def _benchmark(self, model_id: int) -> None:
        with self.core.db.session() as session:
            ref = get_model(session, model_id)
        if ref is not None:
            self.library.details.set_busy(True)
            self.library.status.setText(f"Benchmarking {ref.name}: about 30 seconds on a small model…")
            self.engine.benchmark(ref)

    @Slot(object)
    def _loaded_changed(self, model_id) -> None:
        self.library.set_loaded(model_id)

    @Slot(int)
    def _measured(self, _model_id: int) -> None:
        self.library.refresh()

    @Slot(int, object)
    def _benchmark_done(self, _model_id: int, result: dict) -> None:
        self.library.details.set_busy(False)
        self.library.refresh()
        self.library.status.setText(
            f"Benchmark: prompt {result['prompt_tok_s']:.0f} tok/s, generation {result['gen_tok_s']:.0f} tok/s."
        )

    @Slot(int, str)
    def _benchmark_failed(self, _model_id: int, message: str) -> None:
        self.library.details.set_busy(False)
        self.library.status.setText(message)
