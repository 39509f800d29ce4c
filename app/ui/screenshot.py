"""Renders the main window with a sample conversation to a PNG, with no display (used by the README)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

# Asked of the real starter model at screenshot time (greedy, fixed seed), so the picture shows what the model
# named in it really writes, with its real speed.
CHAT_PROMPTS = (
    "Write a Python function that checks whether a word is a palindrome.",
    "What is the capital of France? Answer in one sentence.",
)
OLDER_CHATS = ("Trip ideas for a rainy weekend", "Explain transformers simply", "Draft: thank-you note")


def _fill_sample(core) -> None:
    """A few older conversations in the sidebar (a question each, no reply)."""
    from app.core.storage import conversations as convs

    with core.db.session() as session:
        for title in OLDER_CHATS:
            c = convs.create_conversation(session, title=title)
            convs.add_message(session, c.id, role="user", content=title)


def _chat_for_real(window) -> None:
    """A new conversation with real replies from the loaded model, the first one rated Good."""
    chat = window.chat
    chat.new_chat()
    chat.settings_panel.form.set_values({**chat.settings_panel.form.values(), "temperature": 0.0, "seed": 1,
                                         "max_tokens": 200})
    chat.settings_panel.flush()
    for prompt in CHAT_PROMPTS:
        chat.send(prompt)
        _wait(lambda: chat.streaming_id is None, 120)


# (file name, layers, n_embd, heads, KV heads, context, vocab, feed-forward, GGUF file type, weights in GB)
SAMPLE_MODELS = [
    ("Llama-3.2-3B-Instruct-Q4_K_M.gguf", 28, 3072, 24, 8, 131072, 128256, 8192, 15, 2.0),
    ("Qwen2.5-7B-Instruct-Q4_K_M.gguf", 28, 3584, 28, 4, 32768, 152064, 18944, 15, 4.7),
    ("Mistral-Small-24B-Instruct-Q4_K_M.gguf", 40, 5120, 32, 8, 32768, 131072, 32768, 15, 14.3),
    ("Llama-3.3-70B-Instruct-Q4_K_M.gguf", 80, 8192, 64, 8, 131072, 128256, 28672, 15, 42.5),
]


def _fill_sample_models(core) -> None:
    """Sample GGUF files with real headers and sparse weights (nothing big is written), registered like a scan."""
    from app import paths
    from app.core.library import scan
    from app.core.library.sample_gguf import write_tiny_gguf

    for name, layers, n_embd, heads, kv, ctx, vocab, n_ff, ftype, gb in SAMPLE_MODELS:
        write_tiny_gguf(
            paths.models_dir() / name, name=name.removesuffix(".gguf"), layers=layers, n_embd=n_embd,
            n_head=heads, n_head_kv=kv, context=ctx, vocab=vocab, n_ff=n_ff, file_type=ftype,
            sparse_bytes=int(gb * 1e9),
        )
    with core.db.session() as session:
        scan.scan(session)


def _wait(condition, timeout_s: float = 20.0) -> None:
    import time

    from PySide6.QtCore import QCoreApplication

    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        QCoreApplication.processEvents()
        time.sleep(0.02)


def _show_hub_with_download(window) -> None:
    """The hub page as it opens: the recommended models with their fit badges for this machine, and two of them
    downloading, fed from the shipped list: no server and no network. The progress is set as a running download
    would report it."""
    from app import paths
    from app.core.library import recommended
    from app.core.library.downloads import DownloadProgress
    from app.core.storage.models import Download, DownloadStatus

    tab = window.models_tab
    tab.pages.setCurrentWidget(tab.hub)
    tab.hub.show_recommended()
    by_id = {m.id: m for m in recommended.load()}
    running = [(by_id["qwen2.5-7b-instruct"], 0.41, 38e6), (by_id["llama-3.2-3b-instruct"], 0.63, 41e6)]
    with window.core.db.session() as session:
        rows = []
        for m, share, _speed in running:
            row = Download(repo_id=m.repo_id, revision="a09a35458c702b33eeacc393d103063234e8bc28", filename=m.filename,
                           total_bytes=m.size, bytes_done=int(m.size * share), sha256=m.sha256,
                           dest_path=str(paths.models_dir() / m.repo_id.replace("/", "__") / m.filename),
                           status=DownloadStatus.DOWNLOADING)
            session.add(row)
            rows.append(row)
        session.flush()
        ids = [r.id for r in rows]
    tab.downloads_panel.refresh()
    for download_id, (m, share, speed) in zip(ids, running, strict=True):
        done = int(m.size * share)
        tab.downloads_panel.model.update_progress(DownloadProgress(download_id, done, m.size, speed,
                                                                   (m.size - done) / speed))


PROMPTS = (
    "Write a long, detailed story about a lighthouse keeper who finds a map in a bottle.",
    "Explain step by step how a bicycle gear system works, with examples.",
    "Describe a week-long hiking trip through the mountains, day by day.",
)


def _stream_replies(window, seconds: float) -> None:
    """Real replies from the starter model, back to back, so the Monitor shows what a chat costs; ends mid-reply."""
    import itertools
    import time

    chat = window.chat
    window.monitor_tab.set_window(60)
    prompts = itertools.cycle(PROMPTS)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        chat.new_chat()
        chat.send(next(prompts))
        _wait(lambda: chat.streaming_id is None, 60)
    chat.new_chat()
    chat.send(next(prompts))
    _wait(lambda: bool(window.monitor_tab.streaming), 60)
    settle = time.monotonic() + 1.2  # a couple of live-rate points and a redraw
    _wait(lambda: time.monotonic() > settle, 5)


def _over_window(window, dialog):
    """The window, dimmed, with the dialog in the middle: how a person sees a dialog open."""
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QColor, QPainter

    picture = window.grab()
    painter = QPainter(picture)
    painter.fillRect(picture.rect(), QColor(0, 0, 0, 110))
    shot, bar = dialog.grab(), 30  # offscreen windows have no title bar: draw one with the dialog's title
    x, y = (picture.width() - shot.width()) // 2, (picture.height() - shot.height() + bar) // 2
    painter.fillRect(x, y - bar, shot.width(), bar, QColor("#2b2f38"))
    painter.setPen(QColor("#e6e6e6"))
    painter.drawText(x, y - bar, shot.width(), bar, Qt.AlignCenter, dialog.windowTitle())
    painter.drawPixmap(x, y, shot)
    painter.end()
    return picture


def _select_sample(window, home: str) -> None:
    """Show a sample model's details, with its path as a user would see it (not this run's temporary folder)."""
    from sqlalchemy import select

    from app.core.storage.models import Model

    library = window.models_tab.library
    with window.core.db.session() as session:
        model_id = session.scalar(select(Model.id).where(Model.name.like("Qwen2.5-7B%")))
    library.select(model_id)
    label = library.details.fact_labels["Path"]
    label.setText(label.text().replace(home, "~/.local/share/Hearth"))


def screenshot(out: str, tab: str = "chat", size: tuple[int, int] = (1280, 800)) -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    home = tempfile.mkdtemp(prefix="hearth-shot-")
    os.environ["HEARTH_HOME"] = home
    from PySide6.QtCore import QCoreApplication
    from PySide6.QtWidgets import QApplication

    from app.core.startup import open_core
    from app.ui.app import apply_theme, build_window

    app = QApplication.instance() or QApplication([])
    apply_theme(app)
    core = open_core()
    _fill_sample(core)
    if tab in ("models", "hub"):
        _fill_sample_models(core)
    window, engine = build_window(core)
    window.resize(*size)
    page = tab.split("-")[0] if tab.startswith(("training", "server")) else {"hub": "models"}.get(tab, tab)
    window.tabs.setCurrentIndex(["chat", "models", "monitor", "training", "server", "settings"].index(page))
    window.show()
    if tab == "hub":
        _show_hub_with_download(window)
    if tab == "monitor":
        _stream_replies(window, 58)
    dialog = None
    if tab.startswith("training"):
        from app.ui.screenshot_training import show as show_training

        dialog = show_training(window, tab, home)  # from a recorded job: nothing is trained
    if tab.startswith("server"):
        from app.ui.server.screenshot_server import show as show_server

        show_server(window, tab)  # the request log replayed from recorded engine events
    if tab == "chat":
        _chat_for_real(window)
    if tab == "settings":  # the data folder as a user sees it, not this run's temporary one
        window.settings_page.data_folder.setText("~/.local/share/Hearth")
    for _ in range(5):
        QCoreApplication.processEvents()
    window.chat.view.scroll_to_bottom()
    QCoreApplication.processEvents()
    if tab == "models":
        _wait(lambda: window.models_tab.library.rescan_button.isEnabled())  # the first-show scan has finished
        _select_sample(window, home)
        QCoreApplication.processEvents()
    ok = (_over_window(window, dialog) if dialog else window.grab()).save(str(Path(out)))
    if dialog is not None:
        dialog.close()
    window.models_tab.shutdown()
    engine.shutdown()
    window.close()
    core.db.close()
    shutil.rmtree(home, ignore_errors=True)  # the sample data was for this picture only
    print(out if ok else f"could not write {out}")
    return 0 if ok else 1
