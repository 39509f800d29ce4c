"""The Models tab against a hub on 127.0.0.1: search, files with fit badges, download with progress, pause and
resume, and the finished model showing up in the library; offline says so at once."""

import json
import struct
import time
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from app.bench.local_hub import LocalHub
from app.core.storage.models import DownloadStatus
from app.ui.app import build_window
from app.ui.library.downloads_model import COLUMNS as DL_COLUMNS
from app.ui.library.hub_page import RepoFilesModel
from tests.helpers.hub import closed_port, go_online

REPO = "hearth-test/SmolLM2-GGUF"


@pytest.fixture
def served(monkeypatch, starter_path):
    with LocalHub({REPO: {"SmolLM2-135M-Instruct.Q4_1.gguf": starter_path, "README.md": b"# smol\n"}}) as hub:
        go_online(monkeypatch, hub.endpoint)
        yield hub


@pytest.fixture
def models_tab(qtbot, core):
    win, engine = build_window(core)
    qtbot.addWidget(win)
    win.show()
    win.tabs.setCurrentWidget(win.models_tab)
    yield win.models_tab
    win.models_tab.shutdown()
    engine.shutdown()


def _search_and_open(qtbot, tab) -> None:
    page = tab.hub
    page.query.setText("smol")
    page.search_button.click()
    qtbot.waitUntil(lambda: page.results.rowCount() == 1, timeout=15000)
    page.results_view.selectRow(0)
    qtbot.waitUntil(lambda: page.files.rowCount() == 1 and bool(page.files.fits), timeout=15000)


def test_search_list_files_with_fit_and_download_into_the_library(qtbot, served, models_tab):
    _search_and_open(qtbot, models_tab)
    page = models_tab.hub
    fit_column = RepoFilesModel.columns.index("Fit")
    assert page.files.index(0, fit_column).data() == "fits"
    assert "KV cache" in page.files.index(0, fit_column).data(Qt.ToolTipRole)
    assert page.files.index(0, RepoFilesModel.columns.index("Quant")).data() == "Q4_1"
    assert served.range_starts("SmolLM2-135M-Instruct.Q4_1.gguf"), "the fit came from a ranged header read"
    served.throttle(20 * 1024 * 1024)  # slow enough to see progress, pause and resume
    page.files_view.selectRow(0)
    progressed = []
    models_tab.downloads.download_progress.connect(progressed.append)
    page.download_button.click()
    qtbot.waitUntil(lambda: len(progressed) >= 3, timeout=30000)
    panel = models_tab.downloads_panel
    row = panel.model.index(0, DL_COLUMNS.index("Speed")).data()
    assert row.endswith("/s") and panel.model.index(0, DL_COLUMNS.index("Time left")).data() != "—"
    download_id = progressed[-1].download_id
    with qtbot.waitSignal(models_tab.downloads.download_finished, timeout=15000) as paused:
        models_tab.downloads.pause(download_id)
    assert paused.args[0].status == DownloadStatus.PAUSED and 0 < paused.args[0].bytes_done < paused.args[0].total_bytes
    served.throttle(None)
    with qtbot.waitSignal(models_tab.library_changed, timeout=60000):
        models_tab.downloads.resume(download_id)
    library = models_tab.library
    assert any(library.model.row_at(r).ref.repo_id == REPO for r in range(library.model.rowCount()))
    assert library.details.title.text().startswith("SmolLM2-135M-Instruct.Q4_1")
    assert "Downloaded" in library.details.fact_labels["Source"].text()
    assert panel.model.index(0, DL_COLUMNS.index("Status")).data().startswith("Done")


def test_offline_is_reported_at_once(qtbot, monkeypatch, models_tab):
    go_online(monkeypatch, f"http://127.0.0.1:{closed_port()}")
    page = models_tab.hub
    page.query.setText("anything")
    started = time.monotonic()
    page.search_button.click()
    qtbot.waitUntil(lambda: page.search_button.isEnabled() and "offline" in page.message.text().lower(), timeout=10000)
    assert time.monotonic() - started < 5


def test_download_of_a_gated_repo_is_refused_with_a_reason(qtbot, served, models_tab):
    served.set_access(REPO, "gated")
    with qtbot.waitSignal(models_tab.downloads.download_refused, timeout=15000) as refused:
        models_tab.downloads.start(REPO, "SmolLM2-135M-Instruct.Q4_1.gguf")
    assert "gated" in refused.args[0].lower() or "licence" in refused.args[0].lower() or "access" in refused.args[0].lower()
    assert models_tab.downloads_panel.model.rowCount() == 0


def _tiny_hf_files() -> dict[str, bytes]:
    config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "num_hidden_layers": 2, "hidden_size": 64,
              "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 2048, "vocab_size": 100}
    header = json.dumps({"embed.weight": {"dtype": "BF16", "shape": [100, 64], "data_offsets": [0, 12800]}}).encode()
    return {
        "config.json": json.dumps(config).encode(),
        "tokenizer_config.json": json.dumps({"chat_template": "{{ messages }}"}).encode(),
        "model.safetensors": struct.pack("<Q", len(header)) + header + bytes(12800),
        "pytorch_model.bin": b"never fetched",
    }


def test_a_safetensors_repo_downloads_as_a_model_folder(qtbot, monkeypatch, models_tab):
    with LocalHub({"hearth-test/Tiny-HF": _tiny_hf_files()}) as hub:
        go_online(monkeypatch, hub.endpoint)
        page = models_tab.hub
        page.open_repo("hearth-test/Tiny-HF")
        qtbot.waitUntil(lambda: page.files.rowCount() == 1, timeout=15000)
        assert page.files.index(0, RepoFilesModel.columns.index("Fit")).data() == "fits"
        page.files_view.selectRow(0)
        assert "model folder" in page.download_button.text()
        with qtbot.waitSignal(models_tab.library_changed, timeout=30000):
            page.download_button.click()
    library = models_tab.library
    row = library.model.row_at(library.model.row_of(library.selected_id()))
    assert row.ref.format == "hf" and row.ref.repo_id == "hearth-test/Tiny-HF"
    assert not (Path(row.ref.path) / "pytorch_model.bin").exists()


def test_a_double_click_on_download_plans_it_once(qtbot, served, models_tab):
    page = models_tab.hub
    page.open_repo(REPO)
    qtbot.waitUntil(lambda: page.files.rowCount() == 1, timeout=15000)
    served.throttle(20 * 1024 * 1024)  # still downloading when the second click's answer comes back
    page.files_view.selectRow(0)
    page.download_button.click()
    page.download_button.click()
    panel = models_tab.downloads_panel
    qtbot.waitUntil(lambda: "already downloading" in page.message.text() and panel.model.rowCount() == 1, timeout=15000)
    assert [d.filename for d in models_tab.downloads.list()] == ["SmolLM2-135M-Instruct.Q4_1.gguf"]
    assert panel.model.rowCount() == 1


def _looks_orange(button) -> bool:
    image = button.grab().toImage()
    colour = image.pixelColor(6, image.height() // 2)  # inside the button, left of its label
    return colour.red() > 180 and 90 < colour.green() < 150 and colour.blue() < 100


def test_download_is_disabled_and_grey_until_a_file_is_selected(qtbot, served, models_tab):
    from PySide6.QtWidgets import QApplication

    from app import paths

    app = QApplication.instance()
    sheet = app.styleSheet()
    app.setStyleSheet((paths.resources_dir() / "theme.qss").read_text(encoding="utf-8"))
    try:
        page = models_tab.hub
        page.open_repo(REPO)
        qtbot.waitUntil(lambda: page.files.rowCount() == 1, timeout=15000)
        button = page.download_button
        assert not button.isEnabled() and not _looks_orange(button)
        page.files_view.setFocus()  # focus gives the view a current index but selects nothing
        page.files_view.setCurrentIndex(page.files.index(0, 0))
        page.files_view.clearSelection()
        assert not button.isEnabled() and button.text() == "Download"
        button.click()
        assert models_tab.downloads_panel.model.rowCount() == 0, "a disabled Download starts nothing"
        page.files_view.selectRow(0)
        assert button.isEnabled() and _looks_orange(button) and button.text().startswith("Download ")
        page.files_view.clearSelection()
        assert not button.isEnabled() and not _looks_orange(button)
    finally:
        app.setStyleSheet(sheet)
