"""A real `hearth serve` on 127.0.0.1 (port 0) for the OpenAI API tests, ended with its whole process tree."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


from app.core.child_command import end_tree
from tests.helpers.waiting import wait_for

STARTER = "SmolLM2 135M Instruct (Q4_1)"
READY_TIMEOUT_S = 120


@dataclass
class Engine:
    proc: subprocess.Popen
    url: str
    home: Path
    api_key: str | None
    output: list[str]

    @property
    def v1(self) -> str:
        return self.url + "/v1"

    def client(self, key: str | None = "unset", **kwargs):
        from openai import OpenAI

        key = (self.api_key or "no-key") if key == "unset" else key
        return OpenAI(base_url=self.v1, api_key=key, **{"max_retries": 0, "timeout": 120, **kwargs})

    @property
    def token(self) -> str:
        return json.loads((self.home / "engine.json").read_text(encoding="utf-8"))["token"]


@contextmanager
def running_engine(home: Path, *args: str, api_key: str | None = None, settings: dict | None = None):
    """Start `hearth serve --port 0` on `home` (with these settings written first), wait until it listens, and end
    it and every child at the end, whatever happened."""
    home.mkdir(parents=True, exist_ok=True)
    if settings:
        (home / "settings.json").write_text(json.dumps(settings), encoding="utf-8")
    command = [sys.executable, "-m", "app", "serve", "--port", "0", *args]
    if api_key:
        command += ["--api-key", api_key]
    env = dict(os.environ, HEARTH_HOME=str(home))
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output: list[str] = []
    url: list[str] = []

    def read() -> None:  # drains the pipe for the engine's whole life, so it never blocks on a full one
        for line in proc.stdout:
            output.append(line)
            if line.startswith("Hearth engine on ") and not url:
                url.append(line.split()[3])

    threading.Thread(target=read, daemon=True).start()
    try:
        ready = wait_for(lambda: url or proc.poll() is not None, READY_TIMEOUT_S)
        assert ready and url, f"hearth serve did not start:\n{''.join(output)}"
        yield Engine(proc, url[0], home, api_key, output)
    finally:
        end_tree(proc)
