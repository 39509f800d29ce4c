"""What the Server tab tells a person about the local OpenAI-compatible API: where it is reachable, whether that
reaches past this computer, ready-to-paste client snippets, a fresh API key, and one request-log entry read from
the engine's `request` event.

The settings themselves are declared in app.core.settings (the "Server" section); this module only reads them.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import secrets
import shlex
from dataclasses import dataclass
from typing import Any

import psutil

from app.core.settings import LOOPBACK_HOST, SERVER_SETTINGS

# What the engine reads when it starts (its own copy of the settings): a change needs a restart to be felt. Keep
# serving is read by the window when it closes, so it applies as it is.
ENGINE_START_SETTINGS = tuple(key for key in SERVER_SETTINGS if key != "server_keep_running")
KEY_PREFIX = "hearth-"
EXAMPLE_PROMPT = "Hello!"
ANY_KEY = "hearth"  # the openai client insists on some key; with none set, the server takes any


def _literal(value) -> str:
    """A JSON (and Python) string or object literal that keeps non-ASCII text readable."""
    return json.dumps(value, ensure_ascii=False)


def address_problem(host: str) -> str | None:
    """Why `host` cannot be bound, in words; None when it can be (an IP address, or "localhost")."""
    text = host.strip()
    if not text:
        return "Type an address: 127.0.0.1 for this computer only, 0.0.0.0 for every network."
    if text.lower() == "localhost":
        return None
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return f"“{text}” is not an IP address. Use 127.0.0.1 (this computer only) or 0.0.0.0 (every network)."
    return None


def is_loopback(host: str) -> bool:
    """True when only programs on this computer can connect to `host`."""
    text = host.strip().lower()
    if text == "localhost":
        return True
    try:
        return ipaddress.ip_address(text).is_loopback
    except ValueError:
        return False


def _is_wildcard(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip()).is_unspecified
    except ValueError:
        return False


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def base_url(host: str, port: int) -> str:
    """The base URL a client on this computer uses. A wildcard bind (0.0.0.0, ::) is reached through loopback."""
    shown = LOOPBACK_HOST if _is_wildcard(host) or not host.strip() else host.strip()
    return f"http://{_url_host(shown)}:{port}/v1"


def network_addresses() -> list[str]:
    """This computer's own non-loopback IPv4 addresses: where other computers would reach a wildcard bind."""
    found = []
    for addrs in psutil.net_if_addrs().values():
        for addr in addrs:
            if getattr(addr.family, "name", "") == "AF_INET" and not addr.address.startswith("127."):
                found.append(addr.address)
    return sorted(set(found))


def exposure_warning(host: str, port: int, has_key: bool) -> str:
    """One or two sentences when the server is reachable beyond this computer; empty on loopback."""
    if is_loopback(host):
        return ""
    if _is_wildcard(host):
        where = ", ".join(f"http://{_url_host(a)}:{port}/v1" for a in network_addresses()[:3])
        reach = "Other computers on every network this computer is on can use the API" + (f" ({where})." if where else ".")
    else:
        reach = f"Other computers that can reach {host} can use the API at http://{_url_host(host)}:{port}/v1."
    key = (" They need the API key." if has_key
           else " No API key is set, so anyone who can connect can use your models: set a key.")
    return reach + key


@dataclass(frozen=True)
class ListenCheck:
    """What answers at the server's address: this engine ("serving"), nothing ("closed"), or something else."""

    state: str
    detail: str = ""


def check_listening(host: str, port: int, token: str, engine_pid: int, timeout_s: float = 1.0) -> ListenCheck:
    """Ask whatever listens at host:port for the engine's status with the engine's own token: only the engine that
    the window uses answers with its pid, so another program on the port is told apart from ours."""
    import httpx

    connect = LOOPBACK_HOST if _is_wildcard(host) or not host.strip() else host.strip()
    url = f"http://{_url_host(connect)}:{port}/hearth/v1/status"
    try:
        response = httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout_s)
    except httpx.ConnectError:
        return ListenCheck("closed")
    except httpx.HTTPError as exc:
        return ListenCheck("other", f"{type(exc).__name__}: {exc}")
    try:
        pid = response.json().get("pid") if response.status_code == 200 else None
    except ValueError:
        pid = None
    if pid == engine_pid:
        return ListenCheck("serving")
    return ListenCheck("other", f"HTTP {response.status_code}")


def state_sentence(enabled: bool, check: ListenCheck | None, url: str, port: int) -> str:
    """The Server tab's one line on what is true now: the setting, and what really answers at the address."""
    state = check.state if check is not None else None
    if enabled:
        if state is None:  # not checked yet: the engine is starting, or was just asked to
            return f"On: the API will be at {url} once the engine is up."
        if state == "serving":
            return f"On: other apps can use the API at {url}."
        if state == "closed":
            return f"On, but nothing serves {url} yet: it starts when the engine restarts."
        return f"Another program answers on port {port}: pick another port (then restart the engine)."
    if state == "serving":
        return f"Off, but the engine still serves {url} until it restarts."
    return "Off: only Hearth's window uses the engine. Turn it on to let other apps in."


def new_api_key() -> str:
    """A random key that is easy to tell apart from other services' keys in a client's configuration."""
    return KEY_PREFIX + secrets.token_urlsafe(24)


def _single_quoted(text: str) -> str:
    """`text` as one shell word in single quotes, line breaks and all (what shlex.quote does, kept readable)."""
    return "'" + text.replace("'", "'\\''") + "'"


def curl_snippet(url: str, model: str, api_key: str) -> str:
    body = "{\n" + f'    "model": {_literal(model)},\n' + \
        f'    "messages": [{{"role": "user", "content": {_literal(EXAMPLE_PROMPT)}}}]\n' + "  }"
    lines = [f"curl {shlex.quote(url + '/chat/completions')} \\", '  -H "Content-Type: application/json" \\']
    if api_key:
        lines.append(f"  -H {_single_quoted('Authorization: Bearer ' + api_key)} \\")
    lines.append(f"  -d {_single_quoted(body)}")
    return "\n".join(lines)


def python_snippet(url: str, model: str, api_key: str) -> str:
    key = f"api_key={_literal(api_key)}," if api_key else f"api_key={_literal(ANY_KEY)},  # none is set: any text works"
    return "\n".join([
        "from openai import OpenAI",
        "",
        "client = OpenAI(",
        f"    base_url={_literal(url)},",
        f"    {key}",
        ")",
        "reply = client.chat.completions.create(",
        f"    model={_literal(model)},",
        f"    messages=[{{\"role\": \"user\", \"content\": {_literal(EXAMPLE_PROMPT)}}}],",
        ")",
        "print(reply.choices[0].message.content)",
    ])


def model_for_examples(db) -> str:
    """The name the snippets use before a model is loaded: the default library model, else a placeholder."""
    from app.core.library.registry import default_model

    with db.session() as session:
        model = default_model(session)
    return model.name if model is not None else "MODEL-NAME"


def _number(value: Any, kind: type) -> Any:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return kind(value)
    except (TypeError, ValueError):
        return None


def _timestamp(value: Any) -> float | None:
    """The event's time: epoch seconds, or an ISO 8601 text."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return None


@dataclass(frozen=True)
class RequestRecord:
    """One answered API request, as the engine's `request` event reports it (see docs/engine-service.md)."""

    time: float | None  # epoch seconds
    client: str
    method: str
    route: str
    model: str
    prompt_tokens: int | None
    completion_tokens: int | None
    tokens_per_s: float | None
    status: int | None
    duration_s: float | None
    error: str

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> RequestRecord:
        """Read leniently: a missing or odd field shows as blank rather than losing the row."""
        usage = event.get("usage") if isinstance(event.get("usage"), dict) else {}
        return cls(
            time=_timestamp(event.get("time", event.get("started"))),
            client=str(event.get("client") or ""),
            method=str(event.get("method") or ""),
            route=str(event.get("route") or event.get("path") or ""),
            model=str(event.get("model") or ""),
            prompt_tokens=_number(event.get("prompt_tokens", usage.get("prompt_tokens")), int),
            completion_tokens=_number(event.get("completion_tokens", usage.get("completion_tokens")), int),
            tokens_per_s=_number(event.get("tokens_per_s"), float),
            status=_number(event.get("status"), int),
            duration_s=_number(event.get("duration_s"), float),
            error=str(event.get("error") or ""),
        )

    @property
    def failed(self) -> bool:
        return self.status is not None and self.status >= 400
