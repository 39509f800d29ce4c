"""`hearth bench train-chat`: chat and a training job on the same cores, with and without the job giving way.

In one run, against a real engine (`hearth serve`, a private one) and real training children on the starter model:
1. decode tokens/s of replies with nothing else running (before and after the jobs; the median of both);
2. a training job alone (fixed synthetic chats, fixed steps): its total time, start to exit;
3. the same job while a person chats: a reply forced to `--tokens` tokens (greedy, end of turn ignored), then a
   pause from `PAUSES_S` in turn, again and again until the job ends; decode tokens/s of those replies and the
   job's total time. Once with the job's courtesy on (the default), once with it off (HEARTH_TRAIN_COURTESY=off),
   so the gain is visible.
Printed: decode(while training) / decode(idle) and job(with chat) / job(alone) for both. Targets: >= 0.7 and
<= 1.3 with the courtesy on.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

PAUSES_S = (10.0, 15.0, 12.0)  # between the end of one reply and the next request: reading, then typing
PROMPTS = ("Tell me a long story about a lighthouse keeper and the winter storm.",
           "Explain in detail how bread dough rises, step by step.",
           "Describe a morning walk through a busy harbour market.")
FIRST_REPLY_S = 5.0  # the first reply comes this long after the job starts (while it loads the model)


def _reply(client, model: str, prompt: str, tokens: int) -> dict:
    first = last = None
    count = 0
    stream = client.chat.completions.create(model=model, messages=[{"role": "user", "content": prompt}],
                                            max_tokens=tokens, stream=True, temperature=0.0, seed=1,
                                            extra_body={"ignore_eos": True})
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            now = time.perf_counter()
            first = first or now
            last = now
            count += 1
    tps = (count - 1) / (last - first) if count > 1 and last > first else 0.0
    return {"tokens": count, "decode_tps": tps}


class _Person(threading.Thread):
    """Chats while a job runs: a reply, a pause from PAUSES_S, and so on, until told to stop."""

    def __init__(self, client, model: str, tokens: int):
        super().__init__(daemon=True)
        self.client, self.model, self.tokens = client, model, tokens
        self.replies: list[dict] = []
        self.errors: list[str] = []
        self.halt = threading.Event()

    def run(self) -> None:
        if self.halt.wait(FIRST_REPLY_S):
            return
        turn = 0
        while not self.halt.is_set():
            try:
                reply = _reply(self.client, self.model, PROMPTS[turn % len(PROMPTS)], self.tokens)
            except Exception as exc:  # noqa: BLE001 - counted and shown, the job's run goes on
                self.errors.append(f"{type(exc).__name__}: {exc}")
            else:
                self.replies.append(reply)
            if self.halt.wait(PAUSES_S[turn % len(PAUSES_S)]):
                return
            turn += 1


def _job(core, data: Path, steps: int, batch: int):
    from app.core.library.registry import default_model
    from app.core.training.dataset import DatasetSpec, build
    from app.core.training.jobs import create_job
    from app.core.training.tokenizer import TrainingTokenizer

    with core.db.session() as session:
        base = default_model(session)
    spec = DatasetSpec(conversations=False, jsonl_files=[str(data)], eval_fraction=0.1, max_length=512)
    built = build(spec, TrainingTokenizer.for_model(base.path, base.format))
    options = {"batch_size": batch, "max_steps": steps, "eval_every": 0, "checkpoint_every": 0, "seed": 7,
               "fit_to_data": False, "objective": "sft"}
    with core.db.session() as session:
        return create_job(session, base, options, spec, built, name="bench train-chat")


def _run_job(job, courtesy: bool, person: _Person | None) -> dict:
    from app.core.child_command import end_tree
    from app.core.training.events import read_events
    from app.core.training.runner import child_env, worker_command
    from app.core.training.yielding import SWITCH

    env = child_env()
    env[SWITCH] = "on" if courtesy else "off"
    started = time.perf_counter()
    with open(Path(job.run_dir) / "stderr.log", "ab") as stderr:
        proc = subprocess.Popen(worker_command(job.run_dir), stdout=subprocess.DEVNULL, stderr=stderr, env=env)
        try:
            if person is not None:
                person.start()
            code = proc.wait(timeout=3600)
        finally:
            if proc.poll() is None:  # an interrupted benchmark leaves no job behind
                end_tree(proc, graceful_s=5)
    seconds = time.perf_counter() - started
    if person is not None:
        person.halt.set()  # the reply under way, if any, still counts: it was generated while the job ran
        person.join(timeout=600)
    events = list(read_events(job.run_dir))
    if code != 0 or not events or events[-1]["event"] != "done":
        log = (Path(job.run_dir) / "stderr.log").read_text(errors="replace")[-3000:]
        raise RuntimeError(f"the training job failed (exit {code}):\n{log}")
    return {"seconds": seconds, "replies": person.replies if person else [],
            "errors": person.errors if person else []}


def _decode(replies: list[dict]) -> float:
    return statistics.median(r["decode_tps"] for r in replies) if replies else float("nan")


def main(steps: int = 40, batch: int = 4, tokens: int = 128, idle_replies: int = 4, json_out: str | None = None,
         engine_threads: int | None = None) -> int:
    home = tempfile.mkdtemp(prefix="hearth-bench-train-chat-")
    os.environ["HEARTH_HOME"] = home

    from openai import OpenAI

    from app import paths
    from app.bench.api_bench import _start_hearth
    from app.bench.train_bench import _plain_copy_in_child, synthetic_chats
    from app.core.library.registry import default_model
    from app.core.startup import open_core

    core = open_core()
    with core.db.session() as session:
        model = default_model(session)
    if engine_threads:  # e.g. every core, where a chat and a job fight hardest
        core.settings.set("n_threads", engine_threads)
    n_threads = core.settings["n_threads"]
    workdir = Path(home) / "bench"
    workdir.mkdir()
    data = workdir / "chats.jsonl"
    data.write_text("\n".join(json.dumps(c) for c in synthetic_chats(96)) + "\n", encoding="utf-8")
    print(f"Preparing the plain copy of {model.name} (once)…", file=sys.stderr)
    _plain_copy_in_child(Path(model.path), paths.cache_dir())

    server, url = _start_hearth(dict(os.environ))
    try:
        client = OpenAI(base_url=url + "/v1", api_key="bench", max_retries=0, timeout=600)
        _reply(client, model.name, PROMPTS[0], 8)  # loads the model and warms up
        print(f"Idle decode: {idle_replies} replies of {tokens} tokens…", file=sys.stderr)
        idle = [_reply(client, model.name, PROMPTS[i % len(PROMPTS)], tokens) for i in range(idle_replies)]
        print(f"The job alone: {steps} steps of {batch} chats…", file=sys.stderr)
        alone = _run_job(_job(core, data, steps, batch), True, None)
        runs = {}
        for label, courtesy in (("courtesy on", True), ("courtesy off", False)):
            print(f"The job while a person chats, {label}…", file=sys.stderr)
            runs[label] = _run_job(_job(core, data, steps, batch), courtesy,
                                   _Person(client, model.name, tokens))
        print("Idle decode again…", file=sys.stderr)
        idle += [_reply(client, model.name, PROMPTS[i % len(PROMPTS)], tokens) for i in range(idle_replies)]
    finally:
        server.stop()
        core.db.close()

    idle_tps = _decode(idle)
    result = {"model": model.name, "n_threads_engine": n_threads, "cores": os.cpu_count(), "steps": steps,
              "batch": batch, "tokens": tokens, "pauses_s": list(PAUSES_S), "idle_decode_tps": round(idle_tps, 2),
              "job_alone_s": round(alone["seconds"], 1), "with_chat": {}}
    for label, run in runs.items():
        decode = _decode(run["replies"])
        result["with_chat"][label] = {
            "decode_tps": round(decode, 2), "decode_ratio": round(decode / idle_tps, 3),
            "slowest_reply_ratio": round(min((r["decode_tps"] for r in run["replies"]), default=0.0) / idle_tps, 3),
            "job_s": round(run["seconds"], 1), "job_ratio": round(run["seconds"] / alone["seconds"], 3),
            "replies": len(run["replies"]), "decode_each": [round(r["decode_tps"], 1) for r in run["replies"]],
            "errors": run["errors"][:5]}
    _print(result)
    if json_out:
        Path(json_out).write_text(json.dumps(result, indent=2))
    return 0


def _print(r: dict) -> None:
    print(f"Hearth train-while-chatting benchmark · {r['model']} · engine {r['n_threads_engine']} thread(s) · "
          f"{r['cores']} logical cores")
    print(f"  the job: {r['steps']} steps of {r['batch']} synthetic chats, LoRA, start to exit; the person: a reply "
          f"of {r['tokens']} tokens (greedy, end of turn ignored), then a pause of "
          f"{' / '.join(f'{p:g}' for p in r['pauses_s'])} s in turn, from {FIRST_REPLY_S:g} s after the job starts")
    print(f"  idle decode {r['idle_decode_tps']:.1f} tok/s · job alone {r['job_alone_s']:.1f} s")
    print(f"  {'':<14} {'decode tok/s':>12} {'× idle':>7} {'slowest':>8} {'job s':>7} {'× alone':>8} {'replies':>8}")
    for label, row in r["with_chat"].items():
        print(f"  {label:<14} {row['decode_tps']:>12.1f} {row['decode_ratio']:>7.2f} "
              f"{row['slowest_reply_ratio']:>8.2f} {row['job_s']:>7.1f} {row['job_ratio']:>8.2f} {row['replies']:>8}")
        for error in row["errors"]:
            print(f"    a reply failed: {error}")
    print("  decode: the median reply (slowest: the slowest one, × idle); targets with the courtesy on: decode "
          "≥ 0.7 × idle, job ≤ 1.3 × alone")
