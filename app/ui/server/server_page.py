"""The Server tab: the local OpenAI-compatible API's switch and settings, how to reach it, and what it answered.

Its own tab, as LM Studio's Developer tab, not a sub-page of Models or a Settings section: it is a place a person
watches (the live request log) and copies from (the base URL and working snippets), not a form set once. The
settings are the "Server" section of app.core.settings, drawn by the shared option form and saved as they change.
"""

from __future__ import annotations

from typing import Any

import shiboken6
from PySide6.QtCore import QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QFormLayout,
    QHeaderView,
    QHBoxLayout,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.core import local_server
from app.core.engine.backend import LoadedModelInfo
from app.core.settings import APP_SECTIONS, ON_ENGINE_LISTEN, SERVER_SECTION, SERVER_SETTINGS
from app.core.startup import Core
from app.ui.background import run_in_background
from app.ui.option_form import OptionForm
from app.ui.plain_text import plain_label
from app.ui.server.copy_box import CopyBlock, CopyButton, CopyLine
from app.ui.server.request_log import MODEL_COLUMN, RequestLogModel
from app.ui.settings.settings_events import SettingsEvents
from app.ui.tables import row_table

SERVER_OPTIONS = next(options for title, _when, options in APP_SECTIONS if title == SERVER_SECTION)
KEY_MASK = "•" * 12
FORM_WIDTH = 480  # the settings column; the connection column and the log take the rest


def _label(text: str, name: str, wrap: bool = False):
    label = plain_label(text)
    label.setObjectName(name)
    label.setWordWrap(wrap)
    return label


class ServerPage(QWidget):
    restart_requested = Signal()  # the engine should listen again with the saved settings
    listening_checked = Signal(object)  # a ListenCheck: what answers at the server's address now

    def __init__(self, core: Core, engine: Any, events: SettingsEvents, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("serverPage")
        self.core, self.engine = core, engine
        self.settings = core.settings
        self.model_name = local_server.model_for_examples(core.db)
        self.applied = self._server_values()  # what the running engine was started with
        self.log = RequestLogModel(self)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 16, 24, 12)
        layout.setSpacing(8)
        head = QHBoxLayout()
        head.addWidget(_label("Server", "pageTitle"))
        self.state_line = _label("", "hint", wrap=True)
        head.addWidget(self.state_line, 1)
        layout.addLayout(head)
        top = QHBoxLayout()
        top.setSpacing(24)
        top.addLayout(self._settings_column(), 0)
        top.addLayout(self._connect_column(), 1)
        layout.addLayout(top, 1)
        log_head = QHBoxLayout()
        log_head.addWidget(_label("REQUESTS", "sectionHeading"))
        self.log_hint = _label("", "hint")
        log_head.addWidget(self.log_hint, 1)
        self.clear_log_button = QPushButton("Clear")
        self.clear_log_button.setToolTip("Empty the log shown here (nothing else is deleted).")
        self.clear_log_button.clicked.connect(self.log.clear)
        log_head.addWidget(self.clear_log_button)
        layout.addLayout(log_head)
        self.log_view = row_table(self.log)
        self.log_view.setObjectName("requestLog")
        header = self.log_view.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeToContents)
        header.setSectionResizeMode(MODEL_COLUMN, QHeaderView.Stretch)
        self.log_view.setMinimumHeight(90)
        # Rows inserted one by one do not resize columns sized to their contents (a reset does): one pass per burst.
        self._fit_columns = QTimer(self, singleShot=True, interval=0)
        self._fit_columns.timeout.connect(lambda: self.log_view.horizontalHeader().resizeSections())
        self.log.rowsInserted.connect(self._fit_columns.start)
        layout.addWidget(self.log_view, 1)  # sizes go by the stretches: half each on a tall window

        events.setting_changed.connect(self._on_setting_changed)
        self.log.rowsInserted.connect(self._update_log_hint)
        self.log.rowsRemoved.connect(self._update_log_hint)
        self.log.modelReset.connect(self._update_log_hint)
        worker = engine.worker
        worker.model_loaded.connect(self._on_model_loaded)
        if hasattr(worker, "request_logged"):  # the engine process's controller; the in-thread engine has no API
            worker.request_logged.connect(self.log_request)
        self.listening: local_server.ListenCheck | None = None  # what answers at the address; None: not known
        self._checks = 0  # the latest check wins; an older answer is dropped
        supervisor = getattr(engine, "supervisor", None)
        if supervisor is not None:
            supervisor.ready.connect(self.check_listening)  # a (re)started engine may serve a new address
        self._refresh()
        self._update_log_hint()

    # -- building --------------------------------------------------------------------------------------------
    def _settings_column(self) -> QVBoxLayout:
        self.form = OptionForm(SERVER_OPTIONS)
        self.form.setFixedWidth(FORM_WIDTH)
        self.form.set_values(self.settings.as_dict())
        self.editors = self.form.editors
        for editor in self.editors.values():
            if isinstance(editor, QAbstractSpinBox):
                editor.setKeyboardTracking(False)  # save 8761, not 8, 87 and 876 on the way
                editor.setMaximumWidth(140)
            elif isinstance(editor, QPlainTextEdit):
                editor.setPlaceholderText("http://localhost:3000")
        self.editors["server_enabled"].setText("On")
        self.editors["server_keep_running"].setText("after the window closes")
        self.editors["server_host"].setPlaceholderText(local_server.LOOPBACK_HOST)
        self._add_key_buttons()
        self._add_host_problem_row()
        self.form.changed.connect(self._save)

        self.exposure = _label("", "setupAlert", wrap=True)
        self.exposure.setFixedWidth(FORM_WIDTH)
        self.apply_note = _label(ON_ENGINE_LISTEN, "hint", wrap=True)
        self.restart_button = QPushButton("Restart engine")
        self.restart_button.setToolTip("Start the engine again so it serves with these settings (a reply in "
                                       "progress is stopped and kept).")
        self.restart_button.clicked.connect(self.restart_engine)
        self.restart_button.setVisible(hasattr(self.engine, "restart"))
        apply_row = QHBoxLayout()
        apply_row.addWidget(self.apply_note, 1)
        apply_row.addWidget(self.restart_button)
        column = QVBoxLayout()
        column.addWidget(self.form)
        column.addWidget(self.exposure)
        column.addLayout(apply_row)
        column.addStretch(1)
        return column

    def _replace_field(self, key: str, widget: QWidget) -> None:
        self.form.layout().replaceWidget(self.editors[key], widget)

    def _add_key_buttons(self) -> None:
        key_edit: QLineEdit = self.editors["server_api_key"]
        key_edit.setEchoMode(QLineEdit.Password)
        key_edit.setPlaceholderText("none")
        self.show_key_button = QPushButton("Show")
        self.show_key_button.setCheckable(True)
        self.show_key_button.setToolTip("Show or hide the key, here and in the examples.")
        self.show_key_button.toggled.connect(self._show_key)
        self.generate_key_button = QPushButton("Generate")
        self.generate_key_button.setToolTip("Set a new random key. Clients that use the old key need the new one.")
        self.generate_key_button.clicked.connect(self.generate_key)
        row = QWidget()
        self._replace_field("server_api_key", row)  # before the editor moves into the row
        line = QHBoxLayout(row)
        line.setContentsMargins(0, 0, 0, 0)
        line.addWidget(key_edit, 1)
        line.addWidget(self.show_key_button)
        line.addWidget(self.generate_key_button)

    def _add_host_problem_row(self) -> None:
        layout: QFormLayout = self.form.layout()
        row, _role = layout.getWidgetPosition(self.editors["server_host"])
        self.host_problem = _label("", "fieldProblem", wrap=True)
        self.host_problem.hide()
        layout.insertRow(row + 1, plain_label(""), self.host_problem)
        layout.setRowVisible(row + 1, False)
        self._host_problem_row = row + 1

    def _connect_column(self) -> QVBoxLayout:
        self.base_url = CopyLine("Copy the base URL: give it to any OpenAI client as its base URL.")
        self.curl = CopyBlock()
        self.python = CopyBlock()
        self.examples = QTabWidget()
        self.examples.setObjectName("subTabs")
        self.examples.setDocumentMode(True)
        self.examples.addTab(self.python, "Python")
        self.examples.addTab(self.curl, "curl")
        self.examples.setTabToolTip(0, "The official openai package (pip install openai).")
        self.copy_example_button = CopyButton("Copy this example, with the real address, model and key.")
        self.copy_example_button.clicked.connect(self.copy_example)
        self.examples.setCornerWidget(self.copy_example_button)
        self.examples.setSizePolicy(QSizePolicy.Preferred, QSizePolicy.Expanding)  # a share of a tall window's room
        column = QVBoxLayout()
        column.addWidget(_label("BASE URL", "sectionHeading"))
        column.addWidget(self.base_url)
        column.addWidget(self.examples, 1)
        self.url_hint = _label("", "hint", wrap=True)
        column.addWidget(self.url_hint)
        return column

    # -- saving and showing ----------------------------------------------------------------------------------
    def _server_values(self) -> dict[str, Any]:
        return {key: self.settings[key] for key in local_server.ENGINE_START_SETTINGS}

    @Slot()
    def _save(self) -> None:
        values = self.form.values()
        problem = local_server.address_problem(self.editors["server_host"].text())
        self.host_problem.setText(problem or "")
        self.form.layout().setRowVisible(self._host_problem_row, problem is not None)
        self.host_problem.setVisible(problem is not None)
        for key, value in values.items():
            if key == "server_host":
                if problem is not None:
                    continue  # keep the last good address until this one is
                value = value.strip()
            if value != self.settings[key]:
                self.settings.set(key, value)  # the listeners (this page, the status bar) hear of it

    @Slot(str, object)
    def _on_setting_changed(self, key: str, value: Any) -> None:
        if key in SERVER_SETTINGS:
            if not (key == "server_host" and self.host_problem.isVisible()):
                self.form.set_value(key, value)
            if key in ("server_enabled", "server_host", "server_port"):
                self.check_listening()
            self._refresh()

    @Slot(bool)
    def _show_key(self, shown: bool) -> None:
        self.editors["server_api_key"].setEchoMode(QLineEdit.Normal if shown else QLineEdit.Password)
        self.show_key_button.setText("Hide" if shown else "Show")
        self._refresh()

    @Slot()
    def generate_key(self) -> None:
        self.settings.set("server_api_key", local_server.new_api_key())

    @Slot(object)
    def _on_model_loaded(self, info: LoadedModelInfo) -> None:
        self.model_name = info.name
        self._refresh()

    def _refresh(self) -> None:
        """The URL, the examples, the warning and the state line, from the saved settings."""
        s = self.settings
        host, port, key = s["server_host"], s["server_port"], s["server_api_key"]
        url = local_server.base_url(host, port)
        self.base_url.set_text(url)
        shown_key = key if self.show_key_button.isChecked() or not key else KEY_MASK
        self.curl.set_text(local_server.curl_snippet(url, self.model_name, shown_key),
                           local_server.curl_snippet(url, self.model_name, key))
        self.python.set_text(local_server.python_snippet(url, self.model_name, shown_key),
                             local_server.python_snippet(url, self.model_name, key))
        warning = local_server.exposure_warning(host, port, bool(key))
        self.exposure.setText("⚠ " + warning if warning else "")
        self.exposure.setVisible(bool(warning))
        self.state_line.setText(local_server.state_sentence(s["server_enabled"], self.listening, url, port))
        if s["server_enabled"]:
            self.url_hint.setText(f"The model name is any model in your library, e.g. “{self.model_name}”; "
                                  "it is loaded when a request names it.")
        else:
            self.url_hint.setText("Reachable once the server is on.")
        # A restart is due when a setting changed since the last one, or when what answers disagrees with the switch.
        serving = self.listening.state == "serving" if self.listening is not None else s["server_enabled"]
        pending = self._server_values() != self.applied or serving != s["server_enabled"]
        self.apply_note.setText("Changed: restart the engine to apply." if pending and self.restart_button.isVisible()
                                else ON_ENGINE_LISTEN)
        self.restart_button.setObjectName("primaryButton" if pending else "")
        self.restart_button.style().unpolish(self.restart_button)
        self.restart_button.style().polish(self.restart_button)

    # -- what really listens --------------------------------------------------------------------------------
    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.check_listening()

    @Slot()
    def check_listening(self) -> None:
        """Ask, off the UI thread, what answers at the server's address; the state line and the status bar follow."""
        supervisor = getattr(self.engine, "supervisor", None)
        endpoint = supervisor.current() if supervisor is not None else None
        if endpoint is None:
            return
        self._checks += 1
        check_id, s = self._checks, self.settings
        host, port = s["server_host"], s["server_port"]
        run_in_background(lambda: local_server.check_listening(host, port, endpoint.token, endpoint.pid),
                          lambda result: self._on_checked(check_id, result))

    def _on_checked(self, check_id: int, result: local_server.ListenCheck) -> None:
        if not shiboken6.isValid(self) or check_id != self._checks:
            return
        self.listening = result
        problem = getattr(getattr(self.engine, "supervisor", None), "serve_problem", None)
        self.state_line.setToolTip(f"The engine could not listen there: {problem}" if problem else "")
        self._refresh()
        self.listening_checked.emit(result)

    @Slot()
    def copy_example(self) -> None:
        self.examples.currentWidget().copy()
        self.copy_example_button.confirm()

    @Slot()
    def restart_engine(self) -> None:
        self.applied = self._server_values()
        self.listening, self._checks = None, self._checks + 1  # what answered before is no longer known
        self.listening_checked.emit(None)
        self.restart_requested.emit()
        if hasattr(self.engine, "restart"):
            self.engine.restart()
        self._refresh()

    # -- the log ---------------------------------------------------------------------------------------------
    @Slot(object)
    def log_request(self, event: dict) -> None:
        self.log.add_event(event)

    def _update_log_hint(self, *_args) -> None:
        rows = self.log.rowCount()
        self.log_hint.setText(f"{rows} shown, newest first (the last {self.log.max_rows} are kept)" if rows
                              else "Each request the engine answers appears here, the window's own too.")
        self.clear_log_button.setEnabled(rows > 0)
