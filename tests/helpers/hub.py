"""Pointing the real huggingface_hub client at a LocalHub on 127.0.0.1 (conftest keeps everything else offline)."""

from __future__ import annotations

import socket

from huggingface_hub import constants


def go_online(monkeypatch, endpoint: str) -> None:
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("HF_ENDPOINT", endpoint)


def closed_port() -> int:
    """A loopback port nothing listens on: what 'the hub is unreachable' looks like."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
