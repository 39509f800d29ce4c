"""The main window: six tabs, a menu bar with the usual shortcuts, and a status bar with the loaded model, context
use, engine state and whether the local server is on."""

from __future__ import annotations

import platform

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import QUrl, Slot, qVersion
from PySide6.QtGui import QAction, QDesktopServices, QGuiApplication, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMenu, QMessageBox, QTabWidget

from app import APP_NAME, __version__, paths
from app.core.engine.backend import LoadedModelInfo
from app.core.startup import Core
from app.ui.chat.chat_tab import ChatTab
from app.ui.engine import EngineController
from app.ui.engine.crash_notice import EngineCrashNotice
from app.ui.library.models_tab import ModelsTab
from app.ui.models_list import ModelListModel
from app.ui.monitor.monitor_tab import MonitorTab
from app.ui.monitor.sampler_thread import HardwareMonitor
from app.ui.plain_text import message_box, plain_label
from app.ui.server.server_page import ServerPage
from app.ui.server.status_indicator import ServerIndicator
from app.ui.settings.settings_events import SettingsEvents
from app.ui.settings.settings_page import SettingsPage
from app.ui.training.nudge_bar import StatusNudge
from app.ui.training.status_training import TrainingIndicator
from app.ui.training.training_tab import TrainingTab

ENGINE_STATES = {"idle": "Ready", "loading": "Loading model…", "generating": "Generating…"}


PREFERRED_SIZE = (1280, 800)


def fit_to_screen(window) -> None:
    """At most the screen's free area: on a 1024×680 screen with no window manager to shrink it, a 1280×800
    window would lose its right side and its status bar."""
    screen = window.screen() or QGuiApplication.primaryScreen()
    if screen is not None:
        free = screen.availableGeometry()
        window.resize(min(window.width(), free.width()), min(window.height(), free.height()))


class MainWindow(QMainWindow):
    def __init__(self, core: Core, engine: EngineController):
        super().__init__()
        self.core, self.engine = core, engine
        self.setWindowTitle(APP_NAME)
        self.resize(*PREFERRED_SIZE)  # `fit_to_screen` shrinks it where the screen is smaller
        self.models = ModelListModel(core.db, self)
        self.tabs = QTabWidget()
        self.tabs.setObjectName("mainTabs")
        self.tabs.setDocumentMode(True)
        self.chat = ChatTab(core, engine, self.models)
        self.tabs.addTab(self.chat, "Chat")
        self.models_tab = ModelsTab(core, engine)
        self.tabs.addTab(self.models_tab, "Models")
        self.monitor = HardwareMonitor(self._disk_paths(), self)
        self.monitor_tab = MonitorTab(core, engine, self.monitor)
        self.tabs.addTab(self.monitor_tab, "Monitor")
        self.training_tab = TrainingTab(core, self.models, engine)
        self.tabs.addTab(self.training_tab, "Training")
        self.settings_events = SettingsEvents(core.settings, self)
        self.server_page = ServerPage(core, engine, self.settings_events)
        self.tabs.addTab(self.server_page, "Server")
        self.settings_page = SettingsPage(core, engine, self.settings_events)
        self.tabs.addTab(self.settings_page, "Settings")
        self.setCentralWidget(self.tabs)
        self.about_box: QMessageBox | None = None
        self._build_menus()

        self.memory_label = plain_label("")
        self.memory_label.setObjectName("statusAlert")
        self.memory_label.hide()
        self.model_label = plain_label("No model loaded")
        self.context_label = plain_label("")
        self.state_label = plain_label(ENGINE_STATES["idle"])
        for label in (self.model_label, self.context_label, self.state_label):
            label.setObjectName("statusItem")
        self.statusBar().addWidget(self.model_label, 1)
        self.training_indicator = TrainingIndicator(core.db)  # "Training My assistant v2 · step 7 of 20"
        self.statusBar().addPermanentWidget(self.training_indicator)
        self.training_nudge = StatusNudge()  # "23 replies rated since My assistant v2 — train v3?"
        self.statusBar().addPermanentWidget(self.training_nudge)
        self.statusBar().addPermanentWidget(self.memory_label)
        self.engine_notice = EngineCrashNotice(engine)  # the engine died: one sentence, its last lines a click away
        self.statusBar().addPermanentWidget(self.engine_notice)
        self.server_indicator = ServerIndicator(core.settings)
        self.statusBar().addPermanentWidget(self.server_indicator)
        self.statusBar().addPermanentWidget(self.context_label)
        self.statusBar().addPermanentWidget(self.state_label)
        self.n_ctx = 0
        self.loaded_model: LoadedModelInfo | None = None

        w = engine.worker
        w.state_changed.connect(self._on_state)
        w.model_loaded.connect(self._on_model_loaded)
        w.model_failed.connect(self._on_model_failed)
        self.chat.context_used.connect(self._on_context_used)
        self.chat.adapter_shown.connect(self._on_adapter_shown)
        self.models_tab.use_model_requested.connect(self.chat.use_model)
        self.models_tab.library_changed.connect(self.models.refresh)
        self.models_tab.library_changed.connect(self._library_changed)
        self.monitor_tab.memory_alert_changed.connect(self._on_memory_alert)
        self.training_tab.use_adapter_requested.connect(self._use_adapter)
        self.training_tab.job_started.connect(self._watch_job)
        engine.supervisor.ready.connect(self._watch_engine)  # the model's memory is the engine's, not the window's
        self.training_tab.library_changed.connect(self.models.refresh)
        self.training_tab.library_changed.connect(self.models_tab.library.refresh)
        self.settings_events.setting_changed.connect(self.monitor_tab.on_setting_changed)
        self.settings_events.setting_changed.connect(self.chat.on_setting_changed)
        self.settings_events.setting_changed.connect(self.server_indicator.on_setting_changed)
        self.server_indicator.clicked.connect(self.show_server)
        self.server_page.listening_checked.connect(self.server_indicator.set_listening)
        self._wire_training_nudge()
        self.training_tab.reattach()  # jobs left running when the app last closed

    def _wire_training_nudge(self) -> None:
        """The nudge to train the next version: shown here, counted again when a reply is rated or a setting
        changes, and told the hardware readings that say whether the computer is idle (to train unasked, opt-in)."""
        nudge = self.training_tab.nudge
        controller = self.training_tab.controller
        controller.job_started.connect(self.training_indicator.on_started)
        controller.job_event.connect(self.training_indicator.on_event)
        controller.job_ended.connect(self.training_indicator.on_ended)
        self.training_indicator.clicked.connect(self._show_running_job)
        nudge.changed.connect(self.training_nudge.show_nudge)
        self.training_nudge.clicked.connect(self._train_next_version)
        self.training_tab.note_posted.connect(lambda text: self.statusBar().showMessage(text, 15000))
        self.chat.feedback_saved.connect(nudge.refresh_soon)
        self.settings_events.setting_changed.connect(nudge.on_setting_changed)
        self.monitor.sample_taken.connect(nudge.on_sample)
        self.chat.adapter_shown.connect(self.training_tab.set_adapter_in_use)
        self.training_tab.set_adapter_in_use(self.chat.adapter_name)

    # -- the menu bar ----------------------------------------------------------------------------------------
    def _build_menus(self) -> None:
        """File, Edit, View, Help. On macOS Qt moves Settings, About and Quit into the app menu, by their roles; the
        shortcuts read Cmd there (Qt maps Ctrl to Cmd)."""
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        self.new_chat_action = self._action(file_menu, "&New chat", "Ctrl+N", self.new_chat)
        file_menu.addSeparator()
        self.quit_action = self._action(file_menu, "&Quit", "Ctrl+Q", self.close, QAction.MenuRole.QuitRole)
        edit_menu = bar.addMenu("&Edit")
        self.find_action = self._action(edit_menu, "&Find in conversations", "Ctrl+F", self.find_conversations)
        edit_menu.addSeparator()
        self.settings_action = self._action(edit_menu, "&Settings…", "Ctrl+,", self.show_settings,
                                            QAction.MenuRole.PreferencesRole)
        view_menu = bar.addMenu("&View")
        self.chat_panel_action = self.chat.settings_panel_action  # checkable; remembered across restarts
        self.chat_panel_action.setShortcut(QKeySequence("Ctrl+Shift+S"))
        self.chat_panel_action.setMenuRole(QAction.MenuRole.NoRole)  # "settings" in its name must not send it to the macOS app menu
        view_menu.addAction(self.chat_panel_action)
        help_menu = bar.addMenu("&Help")
        self.open_logs_action = self._action(help_menu, "Open &logs folder", None, self.open_logs_folder)
        help_menu.addSeparator()
        self.about_action = self._action(help_menu, f"&About {APP_NAME}", None, self.show_about,
                                         QAction.MenuRole.AboutRole)

    def _action(self, menu: QMenu, text: str, shortcut: str | None, slot, role=QAction.MenuRole.NoRole) -> QAction:
        action = menu.addAction(text)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
        action.setMenuRole(role)
        action.triggered.connect(slot)
        return action

    @Slot()
    def new_chat(self) -> None:
        self.tabs.setCurrentWidget(self.chat)
        self.chat.new_chat()

    @Slot()
    def find_conversations(self) -> None:
        self.tabs.setCurrentWidget(self.chat)
        search = self.chat.sidebar.search
        search.setFocus()
        search.selectAll()

    @Slot()
    def show_settings(self) -> None:
        self.tabs.setCurrentWidget(self.settings_page)

    @Slot()
    def show_server(self) -> None:
        self.tabs.setCurrentWidget(self.server_page)

    @Slot()
    def show_about(self) -> None:
        text = (f"{APP_NAME} {__version__}\n\nYour own AI assistant, on your own computer.\n\n"
                f"Data folder: {paths.root()}\n"
                f"Qt {qVersion()} · PySide6 {pyside_version} · Python {platform.python_version()}")
        self.about_box = message_box(self, f"About {APP_NAME}", text, QMessageBox.Information)
        self.about_box.open()  # not exec(): the window stays live behind it

    @Slot()
    def open_logs_folder(self) -> None:
        """What a user sends with a bug report: each process's rotating log and any crash trace."""
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(paths.logs_dir())))

    @Slot(int)
    def _use_adapter(self, adapter_id: int) -> None:
        self.chat.use_adapter(adapter_id)
        self.tabs.setCurrentWidget(self.chat)

    @Slot()
    def _show_running_job(self) -> None:
        self.tabs.setCurrentWidget(self.training_tab)
        self.training_tab.show_live_job()

    @Slot()
    def _train_next_version(self) -> None:
        self.tabs.setCurrentWidget(self.training_tab)  # the job appears there as it starts
        self.training_tab.train_next_version()

    @Slot()
    def _watch_engine(self) -> None:
        if self.engine.pid is not None:
            self.monitor.watch(self.engine.pid, "Engine")

    @Slot(int, int)
    def _watch_job(self, job_id: int, pid: int) -> None:
        self.monitor.watch(pid, f"Training job {job_id}")

    def _disk_paths(self) -> list:
        from app.core.library.scan import model_folders

        with self.core.db.session() as session:
            return model_folders(session)

    @Slot()
    def _library_changed(self) -> None:
        self.monitor.set_disk_paths(self._disk_paths())  # a newly added folder may be on another disk

    @Slot(str)
    def _on_memory_alert(self, text: str) -> None:
        self.memory_label.setVisible(bool(text))
        self.memory_label.setText("⚠ Low memory" if text else "")
        self.memory_label.setToolTip(text)

    @Slot(str)
    def _on_state(self, state: str) -> None:
        self.state_label.setText(ENGINE_STATES.get(state, state))

    @Slot(object)
    def _on_model_loaded(self, info: LoadedModelInfo) -> None:
        self.n_ctx, self.loaded_model = info.n_ctx, info
        self._on_adapter_shown(self.chat.adapter_name)
        self.model_label.setToolTip(f"{info.path}\nChat template: {info.template_name} ({info.template_origin})")
        self.context_label.setText(f"context 0 / {info.n_ctx}")

    @Slot(str)
    def _on_model_failed(self, message: str) -> None:
        self.loaded_model = None
        self.model_label.setText("No model loaded")
        self.statusBar().showMessage(message, 15000)

    @Slot(str)
    def _on_adapter_shown(self, adapter: str) -> None:
        """The model label names the adapter the chat on screen answers through, and only the model once it is
        removed."""
        info = self.loaded_model
        if info is not None:
            through = f" + {adapter}" if adapter else ""
            self.model_label.setText(f"{info.name}{through} · {info.backend} · template: {info.template_name}")

    @Slot(int, int)
    def _on_context_used(self, used: int, _n: int) -> None:
        if self.n_ctx:
            self.context_label.setText(f"context {used} / {self.n_ctx} ({100 * used / self.n_ctx:.0f}%)")

    def closeEvent(self, event) -> None:
        self.settings_events.close()
        self.chat.shutdown()
        self.models_tab.shutdown()
        self.monitor.shutdown()
        self.training_tab.shutdown()
        super().closeEvent(event)
