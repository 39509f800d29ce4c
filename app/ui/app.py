"""Starting the window: the QApplication, the theme, the core, and the engine process it joins or starts (the model
loads after show, in the engine)."""

from __future__ import annotations

import os
import sys
import time

from PySide6.QtCore import QDir, QObject, QTimer, Slot
from PySide6.QtWidgets import QApplication

from app import APP_NAME, paths
from app.core.library.registry import default_model
from app.core.startup import Core, open_core
from app.ui.engine import EngineController, remote_vocab
from app.ui.main_window import MainWindow, fit_to_screen


def theme_style_sheet() -> str:
    """The style sheet, with `theme:` in its image URLs meaning the resources folder (wherever it was installed)."""
    QDir.addSearchPath("theme", str(paths.resources_dir()))
    qss = paths.resources_dir() / "theme.qss"
    return qss.read_text(encoding="utf-8") if qss.exists() else ""


def apply_theme(app: QApplication) -> None:
    app.setStyle("Fusion")
    app.setStyleSheet(theme_style_sheet())


def _setting(core: Core, key: str, default):
    try:
        return core.settings[key]
    except KeyError:
        return default


def keep_server_running(core: Core) -> bool:
    return bool(_setting(core, "server_keep_running", False))


def server_address(core: Core) -> tuple[str, int] | None:
    """Where the engine listens when it also serves other apps (the Server tab), else None (a free loopback port)."""
    if not _setting(core, "server_enabled", False):
        return None
    return str(_setting(core, "server_host", "127.0.0.1")), int(_setting(core, "server_port", 8760))


def build_window(core: Core) -> tuple[MainWindow, EngineController]:
    """The window and its engine: an engine already serving this data folder is joined, else one is started (in
    the background: the window shows at once). `engine.shutdown()` stops the engine if this window started it."""
    engine = EngineController(core.db, keep_running=keep_server_running(core), start=False,
                              listen=lambda: server_address(core))
    remote_vocab.install(engine)  # the dataset preview tokenizes GGUF text in the engine, not in this process
    window = MainWindow(core, engine)
    # Once the event loop runs (after show): a starting engine's imports must not slow the window's first paint.
    QTimer.singleShot(0, engine.start)
    return window, engine


def load_default_model(window: MainWindow) -> None:
    with window.core.db.session() as session:
        model = default_model(session)
    if model is None:
        from app.core.library.starter import INSTALL_HINT

        window.chat.banner.show_message(
            f"No model is installed. Install the starter model with “{INSTALL_HINT}”, or add a GGUF file in Models."
        )
        return
    if model.load_crashed_at:
        from app.core.library.load_crash import load_crash_note

        window.chat.banner.show_message(
            f"{model.name} was not loaded at start: it {load_crash_note(model.load_crashed_at)}. "
            "Load it from Models to try again, or choose another model."
        )
        return
    window.engine.load(model)


class _IdleRssProbe(QObject):
    """Start-up benchmark: once the default model is loaded, let the app idle, report its memory, leave."""

    def __init__(self, window: MainWindow, app: QApplication):
        super().__init__(window)
        self.app, self.window = app, window
        window.engine.worker.model_loaded.connect(self.loaded)
        load_default_model(window)

    @Slot(object)
    def loaded(self, _info) -> None:
        QTimer.singleShot(2000, self.report)

    @Slot()
    def report(self) -> None:
        import psutil

        engine_pid = self.window.engine.pid
        engine_rss = psutil.Process(engine_pid).memory_info().rss if engine_pid else 0
        print(f"IDLE_RSS {psutil.Process().memory_info().rss} {engine_rss}", flush=True)
        self.app.quit()


def run_window(probe: str | None = None) -> int:
    app = QApplication.instance() or QApplication(sys.argv)
    app.setApplicationName(APP_NAME)
    apply_theme(app)
    core = open_core()
    window, engine = build_window(core)
    fit_to_screen(window)
    window.show()
    if probe == "idle-rss":
        _IdleRssProbe(window, app)
    elif probe == "shown":
        # Start-up benchmark: report when the window is on screen, then leave.
        def report() -> None:
            print(f"WINDOW_SHOWN {time.time():.6f}", flush=True)
            app.quit()

        QTimer.singleShot(0, report)
    else:
        QTimer.singleShot(0, lambda: load_default_model(window))
        QTimer.singleShot(0, window.models_tab.resume_downloads)  # what was cut by closing or a crash goes on
    # Returns once an engine this window started has exited, unless the user keeps it serving (read at closing).
    app.aboutToQuit.connect(lambda: engine.shutdown(stop_engine=not keep_server_running(core)))
    code = app.exec()
    engine.shutdown(stop_engine=not keep_server_running(core))
    core.db.close()
    return code


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    sys.exit(run_window())
