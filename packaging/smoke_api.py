"""Part of packaging/smoke.sh: start the frozen `hearth serve --port 0`, ask it one chat completion with the
`openai` client, and stop it with SIGTERM. Usage: python packaging/smoke_api.py PATH/TO/FROZEN/hearth
"""

from __future__ import annotations

import queue
import re
import subprocess
import sys
import threading
import time

DEADLINE_S = 120


def main(executable: str) -> int:
    from openai import OpenAI

    server = subprocess.Popen([executable, "serve", "--port", "0"], stdout=subprocess.PIPE, text=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in server.stdout], daemon=True).start()
    try:
        url, started = None, time.monotonic()
        while url is None:
            remaining = DEADLINE_S - (time.monotonic() - started)
            if remaining <= 0 or server.poll() is not None:
                print(f"smoke: serve did not say where it listens (exit {server.poll()})", file=sys.stderr)
                return 1
            try:
                found = re.search(r"on (http://\S+)", lines.get(timeout=min(remaining, 1.0)))
            except queue.Empty:
                continue
            url = found.group(1).rstrip("/") if found else None
        print(f"serve ready in {time.monotonic() - started:.1f} s at {url}")
        client = OpenAI(base_url=f"{url}/v1", api_key="unused", timeout=DEADLINE_S, max_retries=0)
        model = client.models.list().data[0].id
        reply = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}],
                                               max_tokens=8, seed=1)
        text = reply.choices[0].message.content or ""
        print(f"serve answered ({reply.usage.completion_tokens} tokens from {model}): {text!r}")
        return 0 if reply.usage.completion_tokens > 0 else 1
    finally:
        server.terminate()
        try:
            code = server.wait(timeout=30)
            print(f"serve stopped (exit {code})")
        except subprocess.TimeoutExpired:
            server.kill()
            print("smoke: serve did not stop on SIGTERM within 30 s", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
