"""The same file reads the same size on the Hub page, in the library table and in the model's details."""

from PySide6.QtCore import Qt

from app import paths
from app.core.library import registry
from app.core.library.hub import HubFile
from app.core.library.sample_gguf import write_tiny_gguf
from app.ui.library.hub_page import RepoFilesModel
from app.ui.library.library_model import COLUMNS
from app.ui.library.library_page import LibraryPage


def test_a_file_shows_one_size_on_the_hub_and_in_the_library(qtbot, core):
    write_tiny_gguf(paths.models_dir() / "big-Q4_K_M.gguf", name="big", sparse_bytes=4_700_000_000)
    page = LibraryPage(core.db, n_ctx=2048)
    qtbot.addWidget(page)
    with qtbot.waitSignal(page.library_changed, timeout=30000):
        page.rescan()
    with core.db.session() as session:
        ref = next(m for m in registry.list_models(session) if m.name.startswith("big"))
    row = next(r for r in range(page.proxy.rowCount()) if page.proxy.index(r, 0).data().startswith("big"))
    in_library = page.proxy.index(row, COLUMNS.index("Size")).data(Qt.DisplayRole)

    files = RepoFilesModel()
    files.set_listing([HubFile("big-Q4_K_M.gguf", ref.size_bytes, None, "Q4_K_M")], {})
    on_hub = files.index(0, RepoFilesModel.columns.index("Size")).data(Qt.DisplayRole)

    page.table.selectRow(row)
    in_details = page.details.fact_labels["Size"].text()
    assert in_library == on_hub == in_details == "4.7 GB"
