"""Moving one file's bytes from the hub into its `.part` file: ranged GETs, sha256 as the bytes arrive, and a
dropped connection picked up where it stopped. Knows nothing of the database; `downloads` drives it."""

from __future__ import annotations

import errno
import hashlib
import logging
import queue
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import httpx2

from app.core.library import hub
from app.core.library.hub import HubError
from app.core.units import format_bytes

log = logging.getLogger(__name__)

WRITE_CHUNK = 1024 * 1024  # write and hash in big pieces, as hf_hub_download does
_QUEUED_CHUNKS = 8
DISK_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


class TransferFailed(Exception):
    """The download cannot go on; `kind` is a HubError kind and the message says what to do."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind
        self.message = message


class Stop(Protocol):
    """What `fetch` polls between network reads (DownloadControl fits)."""

    @property
    def stop_requested(self) -> bool: ...


def hash_file(path: Path, control: Stop):
    """Hash what is already on disk (a part from an earlier run); None if asked to stop meanwhile."""
    hasher = hashlib.sha256()
    with open(path, "rb") as f:
        while piece := f.read(8 * WRITE_CHUNK):
            hasher.update(piece)
            if control.stop_requested:
                return None
    return hasher


class PartWriter:
    """Appends to the part file and hashes on a helper thread, so reading the network never waits for the disk.

    A write error (a full disk) stops the writing; `put` then raises `PartWriter.Failed` and `error` says why.
    """

    class Failed(Exception):
        pass

    def __init__(self, part: Path, hasher):
        self.hasher = hasher
        self.error: OSError | None = None
        self._file = open(part, "ab", buffering=0)
        self._queue: queue.Queue[bytes | bytearray | None] = queue.Queue(maxsize=_QUEUED_CHUNKS)
        self._thread = threading.Thread(target=self._drain, name="download-writer", daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        while True:
            chunk = self._queue.get()
            try:
                if chunk is None:
                    return
                if self.error is None:
                    self._file.write(chunk)
                    self.hasher.update(chunk)
            except OSError as exc:
                self.error = exc
            finally:
                self._queue.task_done()

    def put(self, chunk: bytes | bytearray) -> None:
        if self.error is not None:
            raise PartWriter.Failed
        self._queue.put(chunk)

    def restart(self) -> None:
        """Empty the part file and start the hash again (the server sent the whole file, not the range asked)."""
        self._queue.join()
        self._file.truncate(0)
        self.hasher = hashlib.sha256()

    def close(self) -> None:
        """Write what is queued and close the file. Never raises: look at `error`."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        self._file.close()


def fetch(
    *,
    repo_id: str,
    filename: str,
    revision: str,
    total: int,
    part: Path,
    control: Stop,
    on_bytes: Callable[[int], None],
    auto_resumes: int,
):
    """Bring `part` to `total` bytes, resuming from what it holds. Returns the sha256 object of the whole file,
    or None when stopped (pause or cancel). Raises TransferFailed. `on_bytes(done)` is called after every read."""
    hasher = hash_file(part, control) if part.exists() else hashlib.sha256()
    if hasher is None:
        return None
    done = part.stat().st_size if part.exists() else 0
    if done > total:  # longer than the file can be: start over
        part.unlink()
        hasher, done = hashlib.sha256(), 0
    writer = PartWriter(part, hasher)
    try:
        done = _receive(writer, repo_id, filename, revision, total, done, control, on_bytes, auto_resumes)
    except PartWriter.Failed:
        pass
    finally:
        writer.close()
    if writer.error is not None:
        if writer.error.errno in DISK_FULL:
            raise TransferFailed("disk_full", disk_full_message(filename, part, total)) from writer.error
        raise writer.error
    if control.stop_requested and done < total:
        return None
    if done != total:
        raise TransferFailed("http", f"{filename}: the hub sent {done} bytes instead of {total}. Try again.")
    return writer.hasher


def _receive(writer: PartWriter, repo_id, filename, revision, total, done, control, on_bytes, auto_resumes) -> int:
    retries = 0
    while done < total and not control.stop_requested:
        started_at = done
        buffer = bytearray()
        try:
            with hub.open_file(repo_id, filename, revision, start=done) as response:
                if (done and response.status_code != 206) or _range_start(response) not in (None, done):
                    # The server ignored or misread our Range: throw the part away and take the whole file.
                    writer.restart()
                    done = 0
                    if response.status_code != 200:
                        continue
                for piece in response.iter_bytes():
                    buffer += piece
                    done += len(piece)
                    if len(buffer) >= WRITE_CHUNK:
                        writer.put(buffer)
                        buffer = bytearray()
                    if control.stop_requested:
                        break
                    on_bytes(done)
        except httpx2.TransportError as exc:
            if done > started_at and retries < auto_resumes and not control.stop_requested:
                retries += 1
                log.info("%s: connection lost at %d bytes (%s); resuming", filename, done, exc)
                continue
            raise TransferFailed("offline", lost_message(filename, done, total)) from exc
        except HubError as exc:
            if exc.kind == "offline":
                raise TransferFailed("offline", lost_message(filename, done, total)) from exc
            raise TransferFailed(exc.kind, exc.message) from exc
        finally:
            if buffer:
                writer.put(buffer)
    return done


def _range_start(response) -> int | None:
    content_range = response.headers.get("Content-Range", "")
    if not content_range.startswith("bytes ") or "-" not in content_range:
        return None
    return int(content_range[6:].split("-")[0])


def lost_message(filename: str, done: int, total: int) -> str:
    share = f"{100 * done // total}%" if total else "0%"
    return (
        f"The connection to {hub.hub_host()} was lost while downloading {filename} ({format_bytes(done)} of "
        f"{format_bytes(total)}, {share}). Press Resume to continue from there once you are online; the downloaded "
        "part is kept."
    )


def disk_full_message(filename: str, part: Path, total: int) -> str:
    have = part.stat().st_size if part.exists() else 0
    return (
        f"The disk holding {part.parent} filled up while downloading {filename} ({format_bytes(have)} of "
        f"{format_bytes(total)}). Free up at least {format_bytes(total - have)} and press Resume; the downloaded "
        "part is kept."
    )
