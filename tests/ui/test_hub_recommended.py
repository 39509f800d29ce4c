"""The hub page's recommended models: shown with no server, a fit badge each, offline said plainly on Download,
and one click downloading an entry through the real huggingface_hub client from a hub on 127.0.0.1."""

import hashlib
import time

import pytest
from PySide6.QtCore import Qt

from app.bench.local_hub import LocalHub
from app.core.library import recommended
from app.core.library.fit import Verdict
from app.core.library.metadata import summarise_gguf
from app.core.storage.models import DownloadStatus
from app.core.units import format_bytes
from app.ui.app import build_window
from app.ui.library.fit_badge import VERDICT_ROLE
from app.ui.library.recommended_panel import RecommendedTableModel
from tests.helpers.hub import closed_port, go_online

REPO = "hearth-test/SmolLM2-GGUF"
FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
COLUMNS = RecommendedTableModel.columns


@pytest.fixture
def models_tab(qtbot, core):
    win, engine = build_window(core)
    qtbot.addWidget(win)
    win.show()
    win.tabs.setCurrentWidget(win.models_tab)
    win.models_tab.pages.setCurrentWidget(win.models_tab.hub)
    yield win.models_tab
    win.models_tab.shutdown()
    engine.shutdown()


def _cell(panel, row: int, column: str, role=Qt.DisplayRole):
    return panel.model.index(row, COLUMNS.index(column)).data(role)


def test_the_hub_opens_on_the_recommended_list_with_no_server(models_tab):
    page, shipped = models_tab.hub, recommended.load()
    panel = page.recommended
    assert page.showing_recommended() and panel.isVisible()
    assert panel.model.rowCount() == len(shipped) >= 6
    for row, entry in enumerate(shipped):
        assert _cell(panel, row, "Model") == entry.name and _cell(panel, row, "Family") == entry.family
        assert _cell(panel, row, "Size") == format_bytes(entry.size) and _cell(panel, row, "Licence") == entry.licence
        assert _cell(panel, row, "Fit", VERDICT_ROLE) in (Verdict.FITS, Verdict.TIGHT, Verdict.WONT_FIT)
        assert "KV cache" in _cell(panel, row, "Fit", Qt.ToolTipRole)
        assert entry.repo_id in _cell(panel, row, "Model", Qt.ToolTipRole)
        button = panel.download_button(row)
        assert button.isVisible() and button.isEnabled() and entry.filename in button.toolTip()
    assert "internet" in panel.hint.text()


def test_download_while_offline_says_so_in_one_line(qtbot, monkeypatch, models_tab):
    go_online(monkeypatch, f"http://127.0.0.1:{closed_port()}")
    page = models_tab.hub
    started = time.monotonic()
    page.recommended.download_button(0).click()
    qtbot.waitUntil(lambda: "offline" in page.message.text().lower(), timeout=10000)
    assert time.monotonic() - started < 5
    assert "\n" not in page.message.text() and "Traceback" not in page.message.text()
    assert page.showing_recommended() and models_tab.downloads_panel.model.rowCount() == 0


def _entry_for(starter_path):
    """A list entry for the starter model as the local hub serves it (the shipped entries are real hub repos)."""
    shape = summarise_gguf(starter_path)
    keys = ("architecture", "context_length", "layers", "n_embd", "n_ff", "n_head", "n_head_kv", "head_dim",
            "vocab_size")
    raw = {
        "id": "smollm2-135m", "name": "SmolLM2 135M Instruct", "family": "SmolLM2", "about": "the starter model",
        "repo_id": REPO, "filename": FILE, "size": starter_path.stat().st_size,
        "sha256": hashlib.sha256(starter_path.read_bytes()).hexdigest(), "quant": "Q4_1",
        "licence": "Apache-2.0", "licence_url": "https://www.apache.org/licenses/LICENSE-2.0",
        "parameters": shape["parameters"], "shape": {k: shape[k] for k in keys},
    }
    return recommended.parse({"models": [raw]}, "test list")


def test_one_click_downloads_a_recommended_model_into_the_library(qtbot, monkeypatch, starter_path, models_tab):
    with LocalHub({REPO: {FILE: starter_path, "README.md": b"# smol\n"}}) as hub:
        go_online(monkeypatch, hub.endpoint)
        page = models_tab.hub
        page.recommended.set_entries(_entry_for(starter_path))
        assert page.recommended.model.rowCount() == 1 and _cell(page.recommended, 0, "Fit") == Verdict.FITS
        with qtbot.waitSignal(models_tab.library_changed, timeout=60000):
            page.recommended.download_button(0).click()
        commit = hub.commit(REPO)
        assert FILE in page.message.text() and "progress below" in page.message.text()
    [done] = models_tab.downloads.list()
    assert done.status == DownloadStatus.DONE and done.revision == commit, "pinned to the hub's commit"
    assert done.sha256 == _entry_for(starter_path)[0].sha256
    library = models_tab.library
    row = library.model.row_at(library.model.row_of(library.selected_id()))
    assert row.ref.repo_id == REPO and row.ref.path.endswith(FILE)


def test_a_search_replaces_the_list_and_an_empty_search_box_brings_it_back(qtbot, monkeypatch, starter_path,
                                                                           models_tab):
    with LocalHub({REPO: {FILE: starter_path}}) as hub:
        go_online(monkeypatch, hub.endpoint)
        page = models_tab.hub
        page.query.setText("smol")
        page.search_button.click()
        qtbot.waitUntil(lambda: page.results.rowCount() == 1, timeout=15000)
        assert not page.showing_recommended() and page.results_view.isVisible()
        page.query.clear()
        assert page.showing_recommended() and page.recommended.view.isVisible()
