"""`hearth models pull REPO [FILE]`: download from the hub with progress on stderr; resumable and verified.

Running the same command again resumes a download that was interrupted (Ctrl-C, a cut connection, a kill).
"""

from __future__ import annotations

import signal
import sys
import threading

from app.core.library import downloads, hub
from app.core.library.downloads import DownloadControl, DownloadProgress
from app.core.library.hub import HubError
from app.core.startup import open_core
from app.core.storage.models import DownloadStatus
from app.core.units import format_bytes


def _err(message: str, code: int = 1) -> int:
    print(f"hearth: {message}", file=sys.stderr)
    return code


def _choose_file(listing: hub.RepoListing) -> str | int:
    ggufs = [f for f in listing.gguf_files if "mmproj" not in f.filename.lower()]
    if len(ggufs) == 1:
        return ggufs[0].filename
    if not ggufs:
        message = f"{listing.repo_id} has no GGUF file. Name the file to download, or pick a GGUF conversion of this model."
        return _err(message, 2)
    lines = "\n".join(f"  {f.filename}  ({format_bytes(f.size)}, {f.quant or '?'})" for f in ggufs)
    return _err(f"{listing.repo_id} has {len(ggufs)} GGUF files; name one:\n{lines}", 2)


def pull(args) -> int:
    core = open_core()
    try:
        downloads.resume_interrupted(core.db)
        try:
            filename = args.file
            if not filename:
                choice = _choose_file(hub.repo_files(args.repo, args.revision))
                if isinstance(choice, int):
                    return choice
                filename = choice
            download_id = downloads.create_download(core.db, args.repo, filename, args.revision)
        except HubError as exc:
            return _err(exc.message)
        return _run(core.db, download_id)
    finally:
        core.db.close()


def _run(db, download_id: int) -> int:
    control = DownloadControl()
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGINT, lambda *_: control.pause())
    interactive = sys.stderr.isatty()

    def show(p: DownloadProgress) -> None:
        eta = f", {int(p.eta_s // 60)} min {int(p.eta_s % 60):02d} s left" if p.eta_s is not None else ""
        line = (f"{100 * p.done / max(1, p.total):5.1f}%  {format_bytes(p.done)} / {format_bytes(p.total)}  "
                f"{format_bytes(p.speed_bps)}/s{eta}")
        print(("\r" + line + "   ") if interactive else line, end="" if interactive else "\n", file=sys.stderr, flush=True)

    try:
        info = downloads.run_download(db, download_id, control, show)
    except RuntimeError as exc:
        return _err(str(exc))
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    if interactive:
        print(file=sys.stderr)
    if info.status == DownloadStatus.DONE:
        print(f"Downloaded {info.filename} ({format_bytes(info.total_bytes)}), sha256 verified; it is in your library.")
        print(info.dest_path)
        return 0
    if info.status == DownloadStatus.PAUSED:
        return _err(f"paused at {format_bytes(info.bytes_done)}. Run the same command again to resume.", 130)
    return _err(info.error or f"the download ended as {info.status}.")
