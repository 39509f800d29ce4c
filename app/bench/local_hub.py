"""A small Hugging Face hub served on 127.0.0.1, for the tests and the download benchmark.

It answers the few endpoints the real `huggingface_hub` client uses for search, repo listing and file
download (with HTTP Range), and can misbehave on purpose: drop a connection part-way, serve a flipped
byte, refuse a repo as missing, unauthorised or gated, or send slowly. Standard library only.
"""

from __future__ import annotations

import hashlib
import json
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

ACCESS_MODES = ("public", "gated", "unauthorized", "missing")
# Files the real hub keeps in Git LFS (and so lists with a sha256); small text files stay in git.
_LFS_SUFFIXES = (".gguf", ".safetensors", ".bin", ".pt", ".pth", ".model", ".onnx", ".h5", ".msgpack")
_LFS_MIN_SIZE = 1024 * 1024
_SEND_CHUNK = 1024 * 1024


@dataclass
class _File:
    name: str
    data: bytes | None  # in memory, or ...
    path: Path | None  # ... read from disk (big files: the starter model, benchmark data)
    size: int
    sha256: str
    git_sha1: str

    @property
    def lfs(self) -> bool:
        return self.name.endswith(_LFS_SUFFIXES) or self.size >= _LFS_MIN_SIZE

    def read(self, start: int, end: int):
        """Yield the bytes in [start, end) in big pieces."""
        if self.data is not None:
            view = memoryview(self.data)
            for pos in range(start, end, _SEND_CHUNK):
                yield view[pos : min(end, pos + _SEND_CHUNK)]
            return
        with open(self.path, "rb") as f:
            f.seek(start)
            pos = start
            while pos < end:
                piece = f.read(min(_SEND_CHUNK, end - pos))
                if not piece:
                    return
                pos += len(piece)
                yield piece


@dataclass
class _Repo:
    repo_id: str
    files: dict[str, _File]
    sha: str
    access: str = "public"
    downloads: int = 0
    likes: int = 0
    tags: list[str] = field(default_factory=list)


def _make_file(name: str, content: bytes | Path) -> _File:
    if isinstance(content, Path):
        size = content.stat().st_size
        sha, git = hashlib.sha256(), hashlib.sha1(b"blob %d\0" % size)
        with open(content, "rb") as f:
            while piece := f.read(_SEND_CHUNK * 8):
                sha.update(piece)
                git.update(piece)
        return _File(name, None, content, size, sha.hexdigest(), git.hexdigest())
    data = bytes(content)
    git_sha1 = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
    return _File(name, data, None, len(data), hashlib.sha256(data).hexdigest(), git_sha1)


class LocalHub:
    """`with LocalHub({"me/tiny": {"a.gguf": b"..."}}) as hub:` then point HF_ENDPOINT at `hub.endpoint`.

    File contents are bytes or a Path (served from disk). Fault knobs: `drop_after`, `corrupt`,
    `set_access`, `throttle`. Every request is recorded in `requests` as (method, path, Range header).
    """

    def __init__(self, repos: dict[str, dict[str, bytes | Path]] | None = None, *, throttle_bps: int | None = None):
        self._repos: dict[str, _Repo] = {}
        self._lock = threading.Lock()
        self._drops: dict[tuple[str, str], list[int]] = {}
        self._corrupt: dict[tuple[str, str], set[int]] = {}
        self._throttle_bps = throttle_bps
        self.requests: list[tuple[str, str, str | None]] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        for repo_id, files in (repos or {}).items():
            self.add_repo(repo_id, files)

    # ---- set-up -------------------------------------------------------------------------------------------

    def add_repo(
        self, repo_id: str, files: dict[str, bytes | Path], *, access: str = "public", tags: list[str] | None = None
    ) -> str:
        """Add (or replace) a repo; returns its commit sha, which changes whenever the content does."""
        built = {name: _make_file(name, content) for name, content in files.items()}
        commit = hashlib.sha1(repo_id.encode())
        for name in sorted(built):
            commit.update(f"{name}:{built[name].sha256}".encode())
        auto_tags = ["gguf"] if any(n.endswith(".gguf") for n in built) else ["safetensors"]
        with self._lock:
            self._repos[repo_id] = _Repo(repo_id, built, commit.hexdigest(), tags=tags or auto_tags)
        self.set_access(repo_id, access)
        return self._repos[repo_id].sha

    def commit(self, repo_id: str) -> str:
        return self._repos[repo_id].sha

    def sha256(self, repo_id: str, filename: str) -> str:
        return self._repos[repo_id].files[filename].sha256

    def set_access(self, repo_id: str, mode: str) -> None:
        """public; gated (listed, files refused with GatedRepo); unauthorized (401 everywhere); missing (404)."""
        if mode not in ACCESS_MODES:
            raise ValueError(f"access must be one of {ACCESS_MODES}, not {mode!r}")
        with self._lock:
            self._repos[repo_id].access = mode

    def drop_after(self, repo_id: str, filename: str, *offsets: int) -> None:
        """Cut the connection once at each of these byte offsets of the file, mid-response."""
        with self._lock:
            self._drops.setdefault((repo_id, filename), []).extend(sorted(offsets))

    def corrupt(self, repo_id: str, filename: str, offset: int) -> None:
        """Serve the file with the byte at `offset` flipped (the listing keeps the true hash)."""
        with self._lock:
            self._corrupt.setdefault((repo_id, filename), set()).add(offset)

    def throttle(self, bytes_per_s: int | None) -> None:
        """Send file bodies at about this rate (None: as fast as possible)."""
        self._throttle_bps = bytes_per_s

    def range_starts(self, filename: str) -> list[int]:
        """The start offsets of the GET requests made for this file (0 for a plain GET)."""
        starts = []
        for method, path, range_header in list(self.requests):
            if method == "GET" and "/resolve/" in path and path.endswith("/" + filename):
                starts.append(int(range_header[6:].split("-")[0]) if range_header else 0)
        return starts

    # ---- life cycle ---------------------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        assert self._server is not None, "start the hub first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> LocalHub:
        handler = type("Handler", (_Handler,), {"hub": self})
        self._server = _Server(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="local-hub", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> LocalHub:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ---- used by the handler ------------------------------------------------------------------------------

    def _take_drop(self, key: tuple[str, str], start: int, end: int) -> int | None:
        with self._lock:
            pending = self._drops.get(key, [])
            for offset in pending:
                if start < offset < end:
                    pending.remove(offset)
                    return offset
        return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        # A client hanging up mid-body (pause, cancel, a killed process) is normal here, not worth a traceback.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real hub; every answer carries Content-Length
    hub: LocalHub

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without this, Nagle's algorithm meets the client's delayed
        # ACK and every small answer waits 40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, *_args) -> None:  # quiet: tests read `hub.requests` instead
        pass

    def do_GET(self) -> None:
        self._route("GET")

    def do_HEAD(self) -> None:
        self._route("HEAD")

    # ---- routing ------------------------------------------------------------------------------------------

    def _route(self, method: str) -> None:
        url = urlsplit(self.path)
        path = unquote(url.path)
        self.hub.requests.append((method, path, self.headers.get("Range")))
        query = parse_qs(url.query)
        if path == "/api/models":
            return self._search(query)
        if path.startswith("/api/models/"):
            rest = path[len("/api/models/") :]
            repo_id, _, revision = rest.partition("/revision/")
            return self._model_info(repo_id, revision or "main", blobs="blobs" in query)
        if "/resolve/" in path:
            repo_id, _, rest = path.lstrip("/").partition("/resolve/")
            revision, _, filename = rest.partition("/")
            return self._resolve(method, repo_id, revision, filename)
        self._error(404, "Not Found", "Sorry, we can't find the page you are looking for.")

    def _search(self, query: dict[str, list[str]]) -> None:
        needle = (query.get("search") or [""])[0].lower()
        limit = int((query.get("limit") or ["1000"])[0])
        wanted_tag = (query.get("filter") or [None])[0]
        found = []
        for repo in list(self.hub._repos.values()):
            if repo.access == "missing" or needle not in repo.repo_id.lower():
                continue
            if wanted_tag and wanted_tag not in repo.tags:
                continue
            found.append(self._summary(repo))
        found.sort(key=lambda item: -item["downloads"])
        self._json(200, found[:limit])

    def _summary(self, repo: _Repo) -> dict:
        return {
            "_id": repo.sha[:24],
            "id": repo.repo_id,
            "modelId": repo.repo_id,
            "sha": repo.sha,
            "private": False,
            "gated": "manual" if repo.access == "gated" else False,
            "downloads": repo.downloads,
            "likes": repo.likes,
            "tags": list(repo.tags),
            "lastModified": "2025-01-01T00:00:00.000Z",
            "createdAt": "2024-06-01T00:00:00.000Z",
        }

    def _model_info(self, repo_id: str, revision: str, blobs: bool) -> None:
        repo = self._repo_or_error(repo_id, listing=True)
        if repo is None:
            return
        if revision not in ("main", repo.sha):
            return self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}", repo.sha)
        info = self._summary(repo)
        siblings = []
        for f in repo.files.values():
            sibling: dict = {"rfilename": f.name}
            if blobs:
                sibling.update(size=f.size, blobId=f.git_sha1)
                if f.lfs:
                    sibling["lfs"] = {"sha256": f.sha256, "size": f.size, "pointerSize": 134}
            siblings.append(sibling)
        info["siblings"] = siblings
        info["usedStorage"] = sum(f.size for f in repo.files.values())
        self._json(200, info, commit=repo.sha)

    def _resolve(self, method: str, repo_id: str, revision: str, filename: str) -> None:
        repo = self._repo_or_error(repo_id, listing=False)
        if repo is None:
            return
        if revision not in ("main", repo.sha):
            return self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}", repo.sha)
        f = repo.files.get(filename)
        if f is None:
            return self._error(404, "EntryNotFound", f"{filename} does not exist on {revision}", repo.sha)
        start, end = 0, f.size
        status = 200
        range_header = self.headers.get("Range")
        if range_header:
            first, _, last = range_header.removeprefix("bytes=").partition("-")
            start = int(first)
            end = int(last) + 1 if last else f.size
            if start >= f.size:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{f.size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status = 206
        etag = f.sha256 if f.lfs else f.git_sha1
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(end - start))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", f'"{etag}"')
        self.send_header("X-Repo-Commit", repo.sha)
        if f.lfs:
            self.send_header("X-Linked-Etag", f'"{f.sha256}"')
            self.send_header("X-Linked-Size", str(f.size))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{f.size}")
        self.end_headers()
        if method == "GET":
            self._send_body(repo_id, f, start, end)

    def _send_body(self, repo_id: str, f: _File, start: int, end: int) -> None:
        key = (repo_id, f.name)
        drop_at = self.hub._take_drop(key, start, end)
        flips = sorted(o for o in self.hub._corrupt.get(key, ()) if start <= o < end)
        stop = drop_at if drop_at is not None else end
        began, sent, pos = time.perf_counter(), 0, start
        for piece in f.read(start, stop):
            if flips and any(pos <= o < pos + len(piece) for o in flips):
                piece = bytearray(piece)
                for o in flips:
                    if pos <= o < pos + len(piece):
                        piece[o - pos] ^= 0xFF
            rate = self.hub._throttle_bps
            if rate:  # send in small slices so the rate is smooth and a reader sees steady progress
                for i in range(0, len(piece), 64 * 1024):
                    self.wfile.write(piece[i : i + 64 * 1024])
                    sent += min(64 * 1024, len(piece) - i)
                    delay = began + sent / rate - time.perf_counter()
                    if delay > 0:
                        time.sleep(delay)
            else:
                self.wfile.write(piece)
            pos += len(piece)
        if drop_at is not None:  # hang up mid-body: the client sees fewer bytes than Content-Length promised
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True

    # ---- answers ------------------------------------------------------------------------------------------

    def _repo_or_error(self, repo_id: str, *, listing: bool) -> _Repo | None:
        repo = self.hub._repos.get(repo_id)
        if repo is None or repo.access == "missing":
            self._error(404, "RepoNotFound", "Repository not found")
            return None
        if repo.access == "unauthorized":
            self._error(401, None, "Invalid credentials in Authorization header")
            return None
        if repo.access == "gated" and not listing:
            self._error(
                403, "GatedRepo", "Access to model is restricted. You must have access to it and be authenticated."
            )
            return None
        return repo

    def _error(self, status: int, code: str | None, message: str, commit: str | None = None) -> None:
        body = json.dumps({"error": message}).encode()
        self.send_response(status)
        if code:
            self.send_header("X-Error-Code", code)
        self.send_header("X-Error-Message", message)
        if commit:
            self.send_header("X-Repo-Commit", commit)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, payload, commit: str | None = None) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if commit:
            self.send_header("X-Repo-Commit", commit)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
