"""The Models tab's library page: listing, filters, import, remove, and load / benchmark through the engine."""

import shutil
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QObject, QPointF, Qt, QTimer, QUrl, Slot
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QApplication, QMessageBox

from app import paths
from app.core.library import registry
from app.core.library.sample_gguf import write_tiny_gguf
from app.ui.app import build_window
from app.ui.library.compact_columns import NAME_MIN_WIDTH
from app.ui.library.library_model import COLUMNS
from app.ui.library.library_page import LibraryPage


@pytest.fixture
def page(qtbot, core):
    write_tiny_gguf(paths.models_dir() / "small-Q8_0.gguf", name="small", context=4096)
    write_tiny_gguf(paths.models_dir() / "huge-Q4_K_M.gguf", name="huge", layers=80, n_embd=8192, n_head=64,
                    n_head_kv=8, file_type=15, sparse_bytes=900 * 2**30)  # 900 GiB of (sparse) weights: won't fit anywhere
    p = LibraryPage(core.db, n_ctx=4096)
    p.release_requested.connect(p.model_released)  # no engine here, so nothing holds a removed model
    qtbot.addWidget(p)
    with qtbot.waitSignal(p.library_changed, timeout=30000):
        p.rescan()
    return p


def _names(p: LibraryPage) -> list[str]:
    return [p.proxy.index(r, 0).data(Qt.DisplayRole) for r in range(p.proxy.rowCount())]


def _cell(p: LibraryPage, name: str, column: str):
    for r in range(p.proxy.rowCount()):
        if p.proxy.index(r, 0).data(Qt.DisplayRole).startswith(name):
            return p.proxy.index(r, COLUMNS.index(column)).data(Qt.DisplayRole)
    raise AssertionError(f"{name} not listed: {_names(p)}")


def test_lists_models_with_fit_badges_and_filters(page):
    assert len(_names(page)) == 3
    assert _cell(page, "huge", "Fit") == "won't fit" and _cell(page, "small", "Fit") == "fits"
    assert _cell(page, "huge", "Quant") == "Q4_K_M" and _cell(page, "small", "Context") == "4k"
    page.search.setText("sma")
    assert _names(page) == ["small-Q8_0"]
    page.search.setText("")
    page.fit_box.setCurrentIndex(page.fit_box.findData("won't fit"))
    assert len(_names(page)) == 1 and _names(page)[0].startswith("huge")
    page.fit_box.setCurrentIndex(0)
    page.table.sortByColumn(COLUMNS.index("Size"), Qt.DescendingOrder)
    assert _names(page)[0].startswith("huge")
    tip = page.proxy.index(0, COLUMNS.index("Fit")).data(Qt.ToolTipRole)
    assert "KV cache" in tip and "RAM available" in tip


def test_fit_follows_the_context_size(page):
    small_kv_at_4k = page.model.row_at(page.model.row_of(_id(page, "small"))).fit.kv_cache
    page.context_box.setValue(32768)
    page.context_box.editingFinished.emit()
    assert page.model.row_at(page.model.row_of(_id(page, "small"))).fit.kv_cache == 8 * small_kv_at_4k


def _id(p: LibraryPage, name: str) -> int:
    with p.db.session() as s:
        return registry.find_model(s, name).id


def test_import_copy_and_drop(qtbot, page, tmp_path):
    src = write_tiny_gguf(tmp_path / "dropped" / "friend-Q5_K_M.gguf", name="friend")
    with qtbot.waitSignal(page.library_changed, timeout=30000):
        page.import_paths([src], copy=True)
    assert (paths.models_dir() / "friend-Q5_K_M.gguf").exists() and src.exists()
    assert page.details.title.text() == "friend-Q5_K_M"  # the new model is selected
    asked = []
    page.ask_import = asked.append
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(src))])
    event = QDropEvent(QPointF(10, 10), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    page.dropEvent(event)
    assert asked == [[Path(src)]]


def test_broken_import_is_reported_and_changes_nothing(qtbot, page, tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF\x03\x00\x00\x00" + b"\x01" * 64)
    before = page.model.rowCount()
    page.import_paths([bad], copy=True)
    qtbot.waitUntil(lambda: "Nothing was added" in page.status.text(), timeout=10000)
    assert "bad.gguf" in page.status.text() and page.model.rowCount() == before


def test_rename_set_default_and_remove_with_files(qtbot, page):
    small = _id(page, "small")
    page.rename(small, "My small model")
    page.set_default(small)
    assert _cell(page, "My small model", "Name").endswith("★")
    page.remove(small, delete_files=True)
    assert not any(n.startswith("My small") for n in _names(page))
    qtbot.waitUntil(lambda: "Deleted" in page.status.text(), timeout=10000)
    assert not (paths.models_dir() / "small-Q8_0.gguf").exists()


@pytest.fixture
def window(qtbot, core):
    win, engine = build_window(core)
    qtbot.addWidget(win)
    win.show()
    yield win
    engine.shutdown()


def test_load_from_the_library_records_memory_and_benchmark(qtbot, window):
    window.tabs.setCurrentWidget(window.models_tab)
    library = window.models_tab.library
    qtbot.waitUntil(lambda: library.model.rowCount() == 1, timeout=10000)
    library.select(library.model.row_at(0).id)
    with qtbot.waitSignal(window.engine.worker.loaded_model_changed, timeout=60000):
        library.details.load_button.click()
    qtbot.waitUntil(lambda: "loaded" in library.proxy.index(0, 0).data(Qt.DisplayRole), timeout=10000)
    qtbot.waitUntil(lambda: library.proxy.index(0, COLUMNS.index("Measured")).data() != "—", timeout=10000)
    assert library.proxy.index(0, COLUMNS.index("Measured")).data().endswith(" MB")
    assert library.details.unload_button.isEnabled()
    with qtbot.waitSignal(window.engine.worker.benchmark_finished, timeout=120000):
        library.details.bench_button.click()
    qtbot.waitUntil(lambda: "tok/s" in library.proxy.index(0, COLUMNS.index("Speed")).data(), timeout=10000)
    assert "generation" in library.details.fact_labels["Speed"].text()


class _UnloadSeen(QObject):
    """Lives on the main thread, so it hears the engine's report when the window does (queued)."""

    def __init__(self, order: list[str]):
        super().__init__()
        self.order = order

    @Slot(object)
    def changed(self, model_id) -> None:
        if model_id is None:
            self.order.append("engine unloaded")


def _confirm_remove(*, delete_files: bool) -> None:
    """Answer the Remove dialog once it is open (it runs its own event loop, so look for it from a timer)."""

    def answer() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(20, answer)
            return
        box.checkBox().setChecked(delete_files)
        next(b for b in box.buttons() if b.text() == "Remove").click()

    QTimer.singleShot(0, answer)


def test_remove_deletes_a_loaded_models_file_only_after_the_engine_unloaded_it(
    qtbot, window, starter_path, monkeypatch
):
    copy = paths.models_dir() / "removable-Q4_1.gguf"
    copy.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(starter_path, copy)
    window.tabs.setCurrentWidget(window.models_tab)  # the first visit scans the models folder
    library = window.models_tab.library
    qtbot.waitUntil(lambda: library.model.rowCount() == 2, timeout=10000)
    model_id = _id(library, "removable")
    library.select(model_id)
    worker = window.engine.worker
    with qtbot.waitSignal(worker.loaded_model_changed, timeout=60000, check_params_cb=lambda m: m == model_id):
        library.details.load_button.click()
    qtbot.waitUntil(lambda: library.model.loaded_id == model_id, timeout=10000)

    order: list[str] = []
    backend_when_deleted = []
    seen = _UnloadSeen(order)
    worker.loaded_model_changed.connect(seen.changed)
    real_unlink = Path.unlink

    def unlink(self, *args, **kwargs):
        if str(self) == str(copy.resolve()):
            order.append("file deleted")
            backend_when_deleted.append(window.engine.status()["loaded_model"])  # the engine's own word
        return real_unlink(self, *args, **kwargs)

    monkeypatch.setattr(Path, "unlink", unlink)
    _confirm_remove(delete_files=True)
    library.details.remove_button.click()
    qtbot.waitUntil(lambda: not copy.exists() and "engine unloaded" in order, timeout=30000)
    assert order == ["engine unloaded", "file deleted"]
    assert backend_when_deleted == [None]
    assert library.model.row_of(model_id) < 0


def test_a_long_name_is_elided_in_the_middle_with_the_whole_name_as_tooltip(qtbot, core):
    from PySide6.QtWidgets import QStyleOptionViewItem

    long_name = "Meta-Llama-3.1-8B-Instruct-abliterated-uncensored-roleplay-finetune-v2-Q4_K_M"
    write_tiny_gguf(paths.models_dir() / f"{long_name}.gguf", name="long", context=4096)
    p = LibraryPage(core.db, n_ctx=4096)
    qtbot.addWidget(p)
    p.resize(760, 420)  # the library pane at 1024 x 680, next to the details panel
    p.show()
    with qtbot.waitSignal(p.library_changed, timeout=30000):
        p.rescan()
    name_width = lambda: p.table.columnWidth(COLUMNS.index("Name"))  # noqa: E731
    qtbot.waitUntil(lambda: name_width() >= NAME_MIN_WIDTH, timeout=5000)  # narrow: the details-panel columns go
    assert p.table.isColumnHidden(COLUMNS.index("Format")) and not p.table.isColumnHidden(COLUMNS.index("Fit"))
    row = next(r for r in range(p.proxy.rowCount()) if p.proxy.index(r, 0).data().startswith("Meta-Llama"))
    index = p.proxy.index(row, COLUMNS.index("Name"))
    assert long_name in index.data(Qt.ToolTipRole)
    option = QStyleOptionViewItem()
    option.widget, option.rect = p.table, p.table.visualRect(index)
    option.font, option.fontMetrics = p.table.font(), p.table.fontMetrics()
    assert option.rect.width() < p.table.fontMetrics().horizontalAdvance(long_name), "the cell is too narrow"
    p.table.itemDelegateForColumn(COLUMNS.index("Name")).initStyleOption(option, index)
    shown = option.text
    head, tail = shown.split("…")
    assert head and tail and long_name.startswith(head) and long_name.endswith(tail), shown
    assert p.table.fontMetrics().horizontalAdvance(shown) <= option.rect.width()
    assert not p.table.viewport().grab().isNull()
    p.resize(1500, 600)  # wide: every column is back and the name takes the rest
    qtbot.waitUntil(lambda: not p.table.isColumnHidden(COLUMNS.index("Format")), timeout=5000)
    assert name_width() > NAME_MIN_WIDTH
