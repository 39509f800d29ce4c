"""The Hugging Face hub, as Hearth sees it: search, a repo's files (size, sha256, quantisation) and file streams.

Built on huggingface_hub's HTTP client. Every call fails within a few seconds with a `HubError` that says what
happened and what to do; nothing here retries in a loop, so being offline is reported at once.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

import httpx2
from huggingface_hub import HfApi, constants, errors, hf_hub_url
from huggingface_hub.hf_api import ModelInfo
from huggingface_hub.utils import build_hf_headers, get_session, get_token, hf_raise_for_status

from app import __version__
from app.core.library.metadata import quant_from_filename

DEFAULT_ENDPOINT = "https://huggingface.co"
CONNECT_TIMEOUT_S = 2.5
READ_TIMEOUT_S = 20.0
KINDS = ("offline", "not_found", "unauthorized", "gated", "disk_full", "http", "checksum")


class HubError(Exception):
    """A hub operation that did not work; `kind` is one of KINDS, the message is meant for a person."""

    def __init__(self, kind: str, message: str):
        assert kind in KINDS, kind
        super().__init__(message)
        self.kind = kind
        self.message = message


@dataclass(frozen=True)
class ModelSummary:
    """One search hit."""

    id: str
    downloads: int
    likes: int
    tags: tuple[str, ...]
    has_gguf: bool
    gated: bool
    last_modified: datetime | None


@dataclass(frozen=True)
class HubFile:
    """One file of a repo; sha256 is the hub's LFS hash (None for small files kept in plain git)."""

    filename: str
    size: int
    sha256: str | None
    quant: str | None

    @property
    def is_gguf(self) -> bool:
        return self.filename.lower().endswith(".gguf")


@dataclass(frozen=True)
class RepoListing:
    """A repo's files at one commit; `revision` is that commit's sha, so a download can be pinned to it."""

    repo_id: str
    revision: str
    files: tuple[HubFile, ...]
    gated: bool

    def file(self, filename: str) -> HubFile | None:
        return next((f for f in self.files if f.filename == filename), None)

    @property
    def gguf_files(self) -> tuple[HubFile, ...]:
        return tuple(f for f in self.files if f.is_gguf)


# ---- connection ---------------------------------------------------------------------------------------------


def hub_endpoint() -> str:
    """Read at call time (huggingface_hub reads HF_ENDPOINT once, at import)."""
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def hub_host() -> str:
    return urlsplit(hub_endpoint()).netloc or hub_endpoint()


def offline_mode() -> bool:
    """HF_HUB_OFFLINE, as huggingface_hub saw it at import or as it is set now."""
    return constants.is_offline_mode() or os.environ.get("HF_HUB_OFFLINE", "").upper() in ("1", "ON", "YES", "TRUE")


def timeout(read_s: float = READ_TIMEOUT_S) -> httpx2.Timeout:
    return httpx2.Timeout(read_s, connect=CONNECT_TIMEOUT_S, pool=CONNECT_TIMEOUT_S)


def hub_headers(extra: dict[str, str] | None = None) -> dict[str, str]:
    # huggingface_hub's telemetry fetches a list of "agent harnesses" from huggingface.co on first use, whatever
    # HF_ENDPOINT says. Hearth goes on the network only for what the user asked for, so it is switched off.
    constants.HF_HUB_DISABLE_TELEMETRY = True
    return build_hf_headers(library_name="hearth", library_version=__version__, headers=extra)


def offline_message() -> str:
    return (
        f"You appear to be offline: could not reach {hub_host()}. Connect to the internet and try again; "
        "models already on this computer keep working."
    )


def _offline_mode_error() -> HubError:
    return HubError(
        "offline",
        "Hugging Face offline mode is on (the HF_HUB_OFFLINE environment variable is set), so Hearth does not "
        "contact the hub. Unset HF_HUB_OFFLINE and restart Hearth to search and download; models already on "
        "this computer keep working.",
    )


_resolved_at: dict[str, float] = {}


def ensure_online() -> None:
    """Fail fast when offline mode is on, or when the hub's name does not resolve within the connect timeout.

    httpx's connect timeout does not cover name lookup, which can hang for many seconds on a network that has
    lost its way out, so the lookup runs in a helper thread with a deadline.
    """
    if offline_mode():
        raise _offline_mode_error()
    host = urlsplit(hub_endpoint()).hostname or ""
    if not host or host == "localhost" or _is_ip(host) or time.monotonic() - _resolved_at.get(host, -1e9) < 300:
        return
    outcome: list[bool] = []

    def lookup() -> None:
        try:
            socket.getaddrinfo(host, 443, type=socket.SOCK_STREAM)
            outcome.append(True)
        except OSError:
            outcome.append(False)

    worker = threading.Thread(target=lookup, name="hub-dns", daemon=True)
    worker.start()
    worker.join(CONNECT_TIMEOUT_S)
    if not outcome or not outcome[0]:
        raise HubError("offline", offline_message())
    _resolved_at[host] = time.monotonic()


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


@contextmanager
def translated_errors(repo_id: str, filename: str | None = None, revision: str | None = None) -> Iterator[None]:
    """Turn huggingface_hub and httpx exceptions raised inside the block into HubErrors."""
    try:
        yield
    except HubError:
        raise
    except errors.OfflineModeIsEnabled as exc:
        raise _offline_mode_error() from exc
    except errors.HFValidationError as exc:
        raise HubError(
            "not_found", f"{repo_id!r} is not a repo name. Use the owner/name form, e.g. Qwen/Qwen2.5-0.5B-Instruct-GGUF."
        ) from exc
    except (httpx2.TransportError, errors.LocalEntryNotFoundError) as exc:
        raise HubError("offline", offline_message()) from exc
    except errors.GatedRepoError as exc:
        raise HubError(
            "gated",
            f"{repo_id} is gated: its authors ask you to accept their terms first. Open "
            f"{hub_endpoint()}/{repo_id}, accept them while logged in, then log in here with a token "
            "(`hf auth login`) and try again.",
        ) from exc
    except errors.RepositoryNotFoundError as exc:
        raise HubError(
            "not_found",
            f"There is no model repository named {repo_id} on {hub_host()} (or it is private). Check the name; "
            "for a private repo, log in with a token that can read it (`hf auth login`).",
        ) from exc
    except errors.RevisionNotFoundError as exc:
        raise HubError(
            "not_found",
            f"{repo_id} has no branch, tag or commit called {revision}. Pick another revision, or leave it empty "
            "for the latest.",
        ) from exc
    except errors.RemoteEntryNotFoundError as exc:
        raise missing_file_error(repo_id, filename) from exc
    except errors.HfHubHTTPError as exc:
        raise _http_error(exc, repo_id) from exc


def missing_file_error(repo_id: str, filename: str | None) -> HubError:
    return HubError(
        "not_found",
        f"{repo_id} has no file named {filename} at this revision. Refresh the file list and pick one of its files.",
    )


def _http_error(exc: errors.HfHubHTTPError, repo_id: str) -> HubError:
    status = exc.response.status_code if exc.response is not None else 0
    if status == 401:
        if get_token() is None:
            return HubError(
                "unauthorized",
                f"{hub_host()} asks you to log in to read {repo_id}. Create a read token at "
                "https://huggingface.co/settings/tokens and log in with `hf auth login`, then try again.",
            )
        return HubError(
            "unauthorized",
            f"{hub_host()} refused your access token for {repo_id} (HTTP 401). Log in again with `hf auth login`, "
            "or remove the stored token with `hf auth logout`.",
        )
    if status == 403:
        return HubError(
            "unauthorized",
            f"Your Hugging Face account is not allowed to read {repo_id} (HTTP 403). Ask its owners for access, "
            "or log in with a token that has it.",
        )
    if status >= 500 or status == 429:
        return HubError(
            "http", f"{hub_host()} is busy or having trouble (HTTP {status}). Wait a few minutes and try again."
        )
    return HubError(
        "http", f"{hub_host()} answered HTTP {status} for {repo_id}. Try again; if it persists, check the repo name."
    )


# ---- calls ------------------------------------------------------------------------------------------------


def search_models(query: str, limit: int = 20, *, gguf_only: bool = False) -> list[ModelSummary]:
    """Models whose name matches `query`, most downloaded first."""
    ensure_online()
    params: dict = {
        "search": query,
        "limit": limit,
        "sort": "downloads",
        "expand": ["downloads", "likes", "tags", "lastModified", "gated"],
    }
    if gguf_only:
        params["filter"] = "gguf"
    with translated_errors(query):
        # One plain request: HfApi.list_models retries network errors five times (about 23 s when offline).
        response = get_session().get(
            f"{hub_endpoint()}/api/models", params=params, headers=hub_headers(), timeout=timeout()
        )
        hf_raise_for_status(response)
        items = response.json()
    hits = []
    for item in items[:limit]:
        info = ModelInfo(**item)
        tags = tuple(info.tags or ())
        hits.append(
            ModelSummary(
                id=info.id,
                downloads=info.downloads or 0,
                likes=info.likes or 0,
                tags=tags,
                has_gguf="gguf" in tags,
                gated=bool(info.gated),
                last_modified=info.last_modified,
            )
        )
    return hits


def repo_files(repo_id: str, revision: str | None = None) -> RepoListing:
    """The repo's files with sizes, LFS sha256 and quantisation, at `revision` (default: the main branch)."""
    ensure_online()
    api = HfApi(endpoint=hub_endpoint(), library_name="hearth", library_version=__version__)
    with translated_errors(repo_id, revision=revision):
        hub_headers()  # switches the telemetry off before HfApi builds its own headers
        info = api.model_info(repo_id, revision=revision, files_metadata=True, timeout=timeout())
    files = tuple(
        HubFile(
            filename=s.rfilename,
            size=(s.lfs.size if s.lfs else s.size) or 0,
            sha256=s.lfs.sha256 if s.lfs else None,
            quant=quant_from_filename(s.rfilename) if s.rfilename.lower().endswith(".gguf") else None,
        )
        for s in info.siblings or ()
    )
    if not info.sha:
        raise HubError("http", f"{hub_host()} did not say which commit {repo_id} is at; try again later.")
    return RepoListing(repo_id=info.id or repo_id, revision=info.sha, files=files, gated=bool(info.gated))


def file_url(repo_id: str, filename: str, revision: str) -> str:
    return hf_hub_url(repo_id, filename, revision=revision, endpoint=hub_endpoint())


def check_file(repo_id: str, filename: str, revision: str) -> int | None:
    """Ask for the file's headers only: proves it can be downloaded (not gated, not private) and returns its size."""
    ensure_online()
    with translated_errors(repo_id, filename, revision):
        response = get_session().head(
            file_url(repo_id, filename, revision),
            headers=hub_headers({"Accept-Encoding": "identity"}),
            timeout=timeout(),
            follow_redirects=True,
        )
        hf_raise_for_status(response)
    size = response.headers.get(constants.HUGGINGFACE_HEADER_X_LINKED_SIZE) or response.headers.get("Content-Length")
    return int(size) if size else None


@contextmanager
def open_file(repo_id: str, filename: str, revision: str, start: int = 0) -> Iterator[httpx2.Response]:
    """A streaming GET of the file from byte `start`. Errors before the body starts become HubErrors; errors
    while reading the body are httpx exceptions for the caller, which knows how far it got."""
    ensure_online()
    headers = hub_headers({"Accept-Encoding": "identity"})
    if start:
        headers["Range"] = f"bytes={start}-"
    with translated_errors(repo_id, filename, revision):
        stream = get_session().stream("GET", file_url(repo_id, filename, revision), headers=headers, timeout=timeout())
        response = stream.__enter__()
    try:
        if response.status_code >= 400 and response.status_code != 416:
            with translated_errors(repo_id, filename, revision):
                response.read()
                hf_raise_for_status(response)
        yield response
    finally:
        stream.__exit__(None, None, None)
