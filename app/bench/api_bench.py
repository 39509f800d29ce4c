"""`hearth bench api`: Hearth's OpenAI-compatible API against llama-cpp-python's own server and a raw loop.

In one run, on the same GGUF file, context, threads and weight layouts, with the official `openai` client and
streaming: time to first token and decode tokens/s of one request at a time through Hearth (`hearth serve`), through
`llama_cpp.server` (what a Python user would run instead) and through a raw `create_completion` loop in this
process; then N clients at once against each server, for total throughput and p95 latency. Rounds alternate
between the variants so drift on the machine is shared. Every reply is forced to `--tokens` tokens (end-of-turn
tokens are banned with logit_bias on all three; greedy sampling), so all of them do the same work.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

PROMPTS = (
    "Write a detailed essay about the history of bread, from ancient Egypt to modern bakeries.",
    "Explain step by step how a steam engine works, with examples.",
    "Describe a walk through a busy city market in the early morning, in rich detail.",
)
READY_S = 180
SAMPLING = {"temperature": 0.0, "top_p": 0.95, "seed": 1}
EXTRA = {"top_k": 40, "min_p": 0.05, "repeat_penalty": 1.0}  # both servers accept these in the body


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Server:
    """A server child process; its output is drained (and kept for an error message) until it ends."""

    def __init__(self, name: str, command: list[str], env: dict):
        self.name, self.lines = name, []
        self.proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip())

    def wait_ready(self, url: str) -> None:
        deadline = time.monotonic() + READY_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                if httpx.get(url + "/v1/models", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        tail = "\n".join(self.lines[-15:])
        raise RuntimeError(f"{self.name} did not start:\n{tail}")

    def stop(self) -> None:
        from app.core.child_command import end_tree

        end_tree(self.proc)


def _start_hearth(env: dict) -> tuple[_Server, str]:
    server = _Server("hearth serve", [sys.executable, "-m", "app", "serve", "--port", "0", "--no-lock"], env)
    deadline = time.monotonic() + READY_S
    while time.monotonic() < deadline and server.proc.poll() is None:
        found = [line.split()[3] for line in server.lines if line.startswith("Hearth engine on ")]
        if found:
            server.wait_ready(found[0])
            return server, found[0]
        time.sleep(0.1)
    raise RuntimeError("hearth serve did not start:\n" + "\n".join(server.lines[-15:]))


def _start_llama_server(env: dict, path: str, n_ctx: int, n_threads: int, *extra: str) -> tuple[_Server, str]:
    port = _free_port()
    command = [sys.executable, "-m", "app.bench.llama_server_plain", "--model", path, "--host", "127.0.0.1",
               "--port", str(port), "--n_ctx", str(n_ctx), "--n_threads", str(n_threads),
               "--n_threads_batch", str(n_threads), "--verbose", "False", *extra]
    server = _Server("llama_cpp.server", command, env)
    url = f"http://127.0.0.1:{port}"
    server.wait_ready(url)
    return server, url


def _stream_round(client, model: str, prompt: str, tokens: int, ban: dict) -> dict:
    started = time.perf_counter()
    first = last = None
    count = 0
    stream = client.chat.completions.create(model=model, messages=[{"role": "user", "content": prompt}],
                                            max_tokens=tokens, stream=True, logit_bias=ban, extra_body=EXTRA,
                                            **SAMPLING)
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            now = time.perf_counter()
            first = first or now
            last = now
            count += 1
    ended = time.perf_counter()
    first, last = first or ended, last or ended
    return {"tokens": count, "ttft_s": first - started, "latency_s": ended - started,
            "decode_tps": (count - 1) / (last - first) if count > 1 and last > first else 0.0}


def _raw_round(llm, tokens: list[int], max_tokens: int, ban: dict) -> dict:
    started = time.perf_counter()
    first = last = None
    count = 0
    for _chunk in llm.create_completion(tokens, max_tokens=max_tokens, stream=True, logit_bias=ban,
                                        temperature=0.0, top_p=0.95, top_k=40, min_p=0.05, repeat_penalty=1.0):
        now = time.perf_counter()
        first = first or now
        last = now
        count += 1
    return {"tokens": count, "ttft_s": first - started, "latency_s": last - started,
            "decode_tps": (count - 1) / (last - first) if count > 1 else 0.0}


def _concurrent_round(url: str, model: str, clients: int, tokens: int, ban: dict) -> dict:
    from openai import OpenAI

    gate = threading.Barrier(clients)

    def one(i: int) -> dict:
        client = OpenAI(base_url=url + "/v1", api_key="bench", max_retries=0, timeout=600)
        gate.wait()
        try:
            return _stream_round(client, model, PROMPTS[i % len(PROMPTS)], tokens, ban)
        except Exception as exc:  # noqa: BLE001 - a refused or broken request is counted, not fatal
            return {"tokens": 0, "latency_s": float("nan"), "error": f"{type(exc).__name__}: {exc}"}

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(one, range(clients)))
    wall = time.perf_counter() - started
    return {"wall_s": wall, "tokens": sum(r["tokens"] for r in results),
            "latencies": [r["latency_s"] for r in results if "error" not in r],
            "complete": sum(1 for r in results if r["tokens"] >= tokens - 1),
            "errors": [r["error"] for r in results if "error" in r]}


def run(args) -> int:
    home = tempfile.mkdtemp(prefix="hearth-bench-api-")
    os.environ["HEARTH_HOME"] = home
    env = dict(os.environ, HEARTH_HOME=home)

    from openai import OpenAI

    from app.core.engine.backend import ChatMessage
    from app.core.engine.cpu_layouts import extra_layouts_allowed
    from app.core.engine.llama_backend import LlamaBackend
    from app.core.library.registry import default_model
    from app.core.startup import open_core

    core = open_core()
    with core.db.session() as session:
        model = default_model(session)
    settings = core.settings
    core.db.close()
    n_threads = settings["n_threads"]
    # The raw side in this process: the same file, context, threads and layouts as the engine's own load.
    backend = LlamaBackend(model.path, n_ctx=settings["context_length"], n_threads=n_threads,
                           n_gpu_layers=settings["gpu_layers"])
    n_ctx = backend.info.n_ctx
    llm = backend.llm
    ban = {str(t): -100.0 for t in backend._end_tokens()}  # every end-of-turn token: replies run to --tokens
    raw_ban = {int(t): -100.0 for t in ban}
    layouts = "extra (llama.cpp's choice)" if extra_layouts_allowed() else "plain (this CPU's AMX is unusable)"

    servers: list[_Server] = []
    try:
        hearth, hearth_url = _start_hearth(env)
        servers.append(hearth)
        stock, stock_url = _start_llama_server(env, model.path, n_ctx, n_threads)
        servers.append(stock)
        variants = {"hearth": (OpenAI(base_url=hearth_url + "/v1", api_key="bench", max_retries=0), model.name),
                    "llama_cpp.server": (OpenAI(base_url=stock_url + "/v1", api_key="bench", max_retries=0),
                                         model.path)}
        for client, name in variants.values():  # loads (Hearth loads on the first request) and warms up
            _stream_round(client, name, PROMPTS[0], 8, ban)
        solo: dict[str, list[dict]] = {"raw": [], "hearth": [], "llama_cpp.server": []}
        for round_no in range(args.rounds):
            for prompt in PROMPTS:
                order = list(variants) if round_no % 2 == 0 else list(reversed(variants))
                solo["raw"].append(_raw_round(llm, backend.prompt_tokens([ChatMessage("user", prompt)]),
                                              args.tokens, raw_ban))
                for key in order:
                    client, name = variants[key]
                    solo[key].append(_stream_round(client, name, prompt, args.tokens, ban))
        backend.close()  # the concurrent part needs only the servers
        # Also the stock server told to queue instead of interrupting (its default cuts the streaming reply short
        # whenever another request arrives), so both kinds of fairness are on the table.
        queued, queued_url = _start_llama_server(env, model.path, n_ctx, n_threads, "--interrupt_requests", "False")
        servers.append(queued)
        urls = {"hearth": (hearth_url, model.name), "llama_cpp.server": (stock_url, model.path),
                "llama_cpp.server, queueing": (queued_url, model.path)}
        _concurrent_round(queued_url, model.path, 1, 8, ban)  # its warm-up
        together: dict[str, list[dict]] = {key: [] for key in urls}
        for round_no in range(args.rounds):
            order = list(urls) if round_no % 2 == 0 else list(reversed(urls))
            for key in order:
                url, name = urls[key]
                together[key].append(_concurrent_round(url, name, args.clients, args.tokens, ban))
    finally:
        for server in servers:
            server.stop()

    result = _summary(solo, together, args, model.name, n_ctx, n_threads, layouts)
    _print(result)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(result, indent=2))
    return 0


def _summary(solo, together, args, model: str, n_ctx: int, n_threads: int, layouts: str) -> dict:
    def med(rounds, key):
        return statistics.median(r[key] for r in rounds)

    result = {"model": model, "n_ctx": n_ctx, "n_threads": n_threads, "tokens": args.tokens, "rounds": args.rounds,
              "clients": args.clients, "layouts": layouts, "solo": {}, "concurrent": {}}
    for key, rounds in solo.items():
        result["solo"][key] = {"decode_tps": round(med(rounds, "decode_tps"), 2),
                               "ttft_ms": round(med(rounds, "ttft_s") * 1000, 2),
                               "tokens": [r["tokens"] for r in rounds]}
    for key, rounds in together.items():
        latencies = [x for r in rounds for x in r["latencies"]]
        result["concurrent"][key] = {
            "throughput_tps": round(sum(r["tokens"] for r in rounds) / sum(r["wall_s"] for r in rounds), 2),
            "p95_latency_s": round(_percentile(latencies, 95), 2),
            "complete_replies": f"{sum(r['complete'] for r in rounds)}/{args.clients * len(rounds)}",
            "errors": [e for r in rounds for e in r["errors"]][:5],
        }
    return result


def _print(r: dict) -> None:
    s, c = r["solo"], r["concurrent"]
    h, l, raw = s["hearth"], s["llama_cpp.server"], s["raw"]
    print(f"Hearth API benchmark · {r['model']} · n_ctx {r['n_ctx']} · {r['n_threads']} thread(s) · "
          f"{r['tokens']} tokens per reply · {r['rounds']} rounds × {len(PROMPTS)} prompts")
    print(f"  weight layouts, all three: {r['layouts']}; streaming through the openai client; greedy, end-of-turn "
          "banned")
    print(f"  {'one request at a time':<28} {'decode tok/s':>13} {'TTFT ms':>9}")
    for name, row in (("Hearth (hearth serve)", h), ("llama_cpp.server", l), ("raw llama-cpp-python loop", raw)):
        print(f"  {name:<28} {row['decode_tps']:>13.2f} {row['ttft_ms']:>9.2f}")
    print(f"  Hearth / llama_cpp.server: decode ×{h['decode_tps'] / l['decode_tps']:.3f}, TTFT "
          f"{h['ttft_ms'] - l['ttft_ms']:+.2f} ms; Hearth / raw: decode ×{h['decode_tps'] / raw['decode_tps']:.3f}, "
          f"TTFT {h['ttft_ms'] - raw['ttft_ms']:+.2f} ms")
    print(f"  {r['clients']} clients at once{'':<14} {'total tok/s':>13} {'p95 s':>9} {'complete replies':>18}")
    for name, key in (("Hearth (hearth serve)", "hearth"), ("llama_cpp.server", "llama_cpp.server"),
                      ("llama_cpp.server, queueing", "llama_cpp.server, queueing")):
        row = c[key]
        print(f"  {name:<28} {row['throughput_tps']:>13.2f} {row['p95_latency_s']:>9.2f} "
              f"{row['complete_replies']:>18}")
        for error in row["errors"]:
            print(f"    error: {error}")
    print("  llama_cpp.server: as `python -m llama_cpp.server` starts it, a new request interrupts the one "
          "streaming (replies end early);\n  'queueing': the same server with --interrupt_requests False. p95 is "
          "over every answered request, complete or cut.")
