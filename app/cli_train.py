"""`hearth train`, `hearth dataset build` and `hearth adapters list`: the Training tab's code paths, from a shell.

A job description for `hearth train` is a small JSON file:

    {"base": "SmolLM2 135M Instruct (Q4_1)",          # a library model's name or id (default: the default model)
     "name": "Pirate persona",                          # optional
     "dataset": {"jsonl_files": ["persona.jsonl"], "conversations": true, "min_rating": 1},
     "options": {"max_steps": 30, "learning_rate": 0.0005}}

`dataset` takes the fields of DatasetSpec; `options` those of the training options (hearth train --help-options).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def add_parsers(sub) -> None:
    train = sub.add_parser("train", help="run a training job in the foreground, with a progress bar")
    train.add_argument("job", nargs="?", help="a job description (JSON); see the module docs")
    train.add_argument("--resume", type=int, metavar="JOB_ID", help="continue a job from its last checkpoint")
    train.add_argument("--help-options", action="store_true", help="list the training options and exit")

    dataset = sub.add_parser("dataset", help="build training datasets")
    dataset_sub = dataset.add_subparsers(dest="dataset_what", required=True)
    build = dataset_sub.add_parser("build", help="build a dataset and export it as OpenAI-style JSONL")
    build.add_argument("--out", required=True, help="the JSONL file to write")
    build.add_argument("--no-conversations", action="store_true", help="leave out your rated conversations")
    build.add_argument("--min-rating", type=int, default=1, help="lowest rating used (corrections always are)")
    build.add_argument("--conversation", type=int, action="append", help="only these conversations (repeatable)")
    build.add_argument("--jsonl", action="append", default=[], help="a JSONL file: OpenAI, ShareGPT or Alpaca")
    build.add_argument("--writing", help="a folder of your own .txt / .md writing, for style")
    build.add_argument("--model", help="the base model whose template and tokenizer to use (default: the default)")
    build.add_argument("--max-length", type=int, default=512, help="longest example in tokens (default 512)")
    build.add_argument("--overflow", choices=("cut", "drop"), default="cut",
                       help="what to do with a longer example: cut it (default) or leave it out")

    adapters = sub.add_parser("adapters", help="trained adapters")
    adapters_sub = adapters.add_subparsers(dest="adapters_what", required=True)
    listing = adapters_sub.add_parser("list", help="list adapters with their eval loss and A/B record")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    export = adapters_sub.add_parser("export", help="merge an adapter into its base model, for use in other apps")
    export.add_argument("adapter", help="the adapter's name or id")
    export.add_argument("--to", choices=("gguf-f16", "gguf-q8_0", "hf"), default="gguf-f16",
                        help="a GGUF (f16 or q8_0; 4-bit would erase the fine-tune) or a Hugging Face folder")
    export.add_argument("--out", help="the file or folder to write (default: a new name in the models folder)")
    export.add_argument("--dtype", choices=("float16", "bfloat16", "float32"), default="float16",
                        help="weights of a Hugging Face folder")
    export.add_argument("--add-to-library", action="store_true", help="list the merged model in Models")
    export.add_argument("--json", action="store_true", help="progress and the result as JSON lines")


def _find_model(session, name: str | None):
    from app.core.library.registry import default_model, find_model

    model = find_model(session, name) if name else default_model(session)
    if model is None:
        raise LookupError(f"No model called {name!r} in the library." if name else "No model is installed.")
    return model


def _build(core, spec, model_name: str | None):
    from app.core.training.dataset import build
    from app.core.training.tokenizer import TrainingTokenizer

    with core.db.session() as session:
        base = _find_model(session, model_name)
        tokenizer = TrainingTokenizer.for_model(base.path, base.format)
        return base, build(spec, tokenizer, session)


def _print_problems(built_or_error) -> None:
    problems = getattr(built_or_error, "problems", [])
    for problem in problems[:50]:
        print(f"  {problem}", file=sys.stderr)
    if len(problems) > 50:
        print(f"  … and {len(problems) - 50} more", file=sys.stderr)


def dataset_build(args) -> int:
    from app.core.startup import open_core
    from app.core.training.dataset import DatasetError, DatasetSpec

    spec = DatasetSpec(conversations=not args.no_conversations, min_rating=args.min_rating,
                       conversation_ids=args.conversation, jsonl_files=args.jsonl, writing_folder=args.writing,
                       max_length=args.max_length, overflow=args.overflow, eval_fraction=0.0)
    core = open_core()
    try:
        _base, built = _build(core, spec, args.model)
    except (DatasetError, LookupError, FileNotFoundError) as exc:
        print(f"hearth: {exc}", file=sys.stderr)
        _print_problems(exc)
        return 2
    finally:
        core.db.close()
    count = built.write_jsonl(Path(args.out))
    print(built.summary(), file=sys.stderr)
    _print_problems(built)
    print(f"Wrote {count} examples to {args.out}", file=sys.stderr)
    return 0


def adapters_list(args) -> int:
    from sqlalchemy import select

    from app.core.startup import open_core
    from app.core.storage.models import Adapter

    core = open_core()
    with core.db.session() as session:
        rows = [
            {"id": a.id, "name": a.name, "base": a.base_name, "job_id": a.job_id, "eval_loss_before": a.eval_loss_before,
             "eval_loss_after": a.eval_loss_after, "wins": a.wins, "losses": a.losses, "peft_dir": a.peft_dir,
             "gguf": a.gguf_path, "created": a.created_at.isoformat(timespec="seconds"), "notes": a.notes or ""}
            for a in session.scalars(select(Adapter).order_by(Adapter.id))
        ]
    core.db.close()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("No adapters yet. Train one in the Training tab or with `hearth train JOB.json`.")
    for r in rows:
        loss = (f"eval loss {r['eval_loss_before']:.3f} → {r['eval_loss_after']:.3f}"
                if r["eval_loss_before"] is not None and r["eval_loss_after"] is not None else "no eval")
        print(f"{r['id']:>3}  {r['name']}  (on {r['base']}; {loss}; A/B {r['wins']}–{r['losses']})"
              + (f"  {r['notes']}" if r["notes"] else ""))
    return 0


class _Progress:
    """One line on stderr, redrawn in place: step, loss, speed and time left."""

    def __init__(self):
        self.total, self.loss, self.eval, self.tps, self.eta = 0, None, None, None, None

    def update(self, event: dict) -> None:
        kind = event["event"]
        if kind == "started":
            self.total = event["total_steps"]
            print(f"Training {event['examples']} examples, {self.total} steps, {event['method']} on {event['device']}"
                  + (f", resumed from step {event['resumed_from']}" if event.get("resumed_from") else ""),
                  file=sys.stderr)
        elif kind == "log":
            print(f"  {event['message']}", file=sys.stderr)
        elif kind == "eval":
            self.eval = event["eval_loss"]
        elif kind == "step":
            self.loss, self.tps, self.eta = event["loss"], event["tokens_per_s"], event["eta_s"]
            width, done = 30, event["step"] / max(1, self.total)
            bar = "█" * round(width * done) + "·" * (width - round(width * done))
            extra = f" eval {self.eval:.3f}" if self.eval is not None else ""
            sys.stderr.write(f"\r[{bar}] {event['step']}/{self.total} loss {self.loss:.4f}{extra} "
                             f"{self.tps:.0f} tok/s, {self.eta:.0f} s left ")
            sys.stderr.flush()
        elif kind == "done":
            sys.stderr.write("\n")
            print(f"Done. Eval loss {event['eval_loss_before']:.4f} → {event['eval_loss_after']:.4f}. "
                  f"Adapter: {event['adapter_dir']}" + (f" (GGUF: {event['gguf_adapter']})" if event.get("gguf_adapter") else ""),
                  file=sys.stderr)
        elif kind == "error":
            sys.stderr.write("\n")
            print(f"hearth: {event['message']}", file=sys.stderr)


class _Stopped(BaseException):
    """The command was told to stop (SIGTERM, SIGHUP): end the child and record why, as Ctrl-C does. A
    BaseException, like KeyboardInterrupt, so no library's `except Exception` can swallow it."""

    def __init__(self, name: str):
        super().__init__(name)
        self.name = name


_STOP_SIGNALS = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n))


def _stop_signal(signum, _frame) -> None:
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise _Stopped(signal.Signals(signum).name)


def follow(core, job_id: int, resume: bool = False) -> int:
    """Run the job's child in the foreground, recording its events; Ctrl-C cancels it (and its children)."""
    from app.core.storage.models import JobStatus
    from app.core.training import jobs, runner
    from app.core.training.events import parse_line

    with core.db.session() as session:
        job = jobs.get_job(session, job_id)
    stderr = open(job.run_dir / jobs.STDERR_FILE, "ab")
    # The job is this command's: the child ends with it, also when this process is killed outright.
    command = runner.worker_command(job.run_dir, resume, end_with=os.getpid())
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, env=runner.child_env(),
                             start_new_session=True)
    with core.db.session() as session:
        jobs.mark_started(session, job_id, child.pid, runner.start_time(child.pid) or time.time())
    progress, final = _Progress(), None
    # A signal the command was started with ignored stays ignored: `nohup hearth train` outlives its terminal.
    previous = {sig: signal.signal(sig, _stop_signal) for sig in _STOP_SIGNALS
                if signal.getsignal(sig) is not signal.SIG_IGN}
    try:
        for line in child.stdout:
            event = parse_line(line)
            if event is None:
                continue
            with core.db.session() as session:
                jobs.apply_event(session, job_id, event)
            progress.update(event)
            final = event if event["event"] in ("done", "error") else final
        code = child.wait()
    except (KeyboardInterrupt, _Stopped) as stop:
        runner.kill_tree(child.pid)
        name = stop.name if isinstance(stop, _Stopped) else "SIGINT"
        with core.db.session() as session:
            if name == "SIGINT":
                jobs.mark_ended(session, job_id, JobStatus.CANCELLED, "Cancelled.")
            else:
                jobs.mark_ended(session, job_id, JobStatus.FAILED, f"hearth train was stopped ({name}), and the "
                                "training process with it. Resume it to continue from the last checkpoint.")
        print(f"\n{'Cancelled' if name == 'SIGINT' else f'Stopped by {name}'}. Resume with: "
              f"hearth train --resume {job_id}", file=sys.stderr)
        return 130 if name == "SIGINT" else 128 + int(getattr(signal, name))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        stderr.close()
    if final is None:
        tail = runner.stderr_tail(job.run_dir)
        with core.db.session() as session:
            jobs.mark_ended(session, job_id, JobStatus.FAILED,
                            f"The training process ended without finishing (exit code {code}).\n{tail}")
        print(f"\nhearth: the training process ended without finishing (exit code {code}).\n{tail}", file=sys.stderr)
        return 1
    return 0 if final["event"] == "done" else 1


def train(args) -> int:
    from app.core.startup import open_core
    from app.core.training import jobs
    from app.core.training.availability import training_support
    from app.core.training.dataset import DatasetError, DatasetSpec
    from app.core.training.options import TRAINING_OPTIONS

    if args.help_options:
        for o in TRAINING_OPTIONS:
            choices = f" ({', '.join(v for v, _ in o.choices)})" if o.choices else ""
            print(f"{o.key:<18} default {o.default!r:<12}{choices}  {o.help}")
        return 0
    support = training_support()
    if not support.ready:  # the same line the Training tab shows, before any work is done
        print(f"hearth: {support.message()}", file=sys.stderr)
        return 1
    core = open_core()
    try:
        if args.resume:
            return follow(core, args.resume, resume=True)
        if not args.job:
            print("hearth: give a job description (JSON) or --resume JOB_ID", file=sys.stderr)
            return 2
        description = json.loads(Path(args.job).read_text(encoding="utf-8"))
        spec = DatasetSpec.from_dict({**description.get("dataset", {}),
                                      "max_length": description.get("options", {}).get("max_length", 512)})
        try:
            base, built = _build(core, spec, description.get("base"))
        except (DatasetError, LookupError, FileNotFoundError) as exc:
            print(f"hearth: {exc}", file=sys.stderr)
            _print_problems(exc)
            return 2
        print(built.summary(), file=sys.stderr)
        _print_problems(built)
        cache = description.get("cache_dir")
        try:
            with core.db.session() as session:
                job = jobs.create_job(session, base, description.get("options", {}), spec, built,
                                      name=description.get("name"), cache_dir=Path(cache) if cache else None)
        except ValueError as exc:  # an option the job file gives a value it cannot take
            print(f"hearth: {args.job}: {exc}. `hearth train --help-options` lists every option.", file=sys.stderr)
            return 2
        print(f"Job {job.id}: {job.run_dir}", file=sys.stderr)
        return follow(core, job.id)
    finally:
        core.db.close()


def adapters_export(args) -> int:
    """Merge in this process (the window runs this command as its child), reporting progress on stdout."""
    from app.core.startup import open_core
    from app.core.training.adapter_export import add_to_library, plan_export, run_export
    from app.core.training.merge import MergeError

    def say(event: str, **fields) -> None:
        if args.json:
            print(json.dumps({"event": event, **fields}), flush=True)
        elif event == "progress":
            sys.stderr.write(f"\rMerging: {100 * fields['done'] // max(1, fields['total']):3d}% ")
            sys.stderr.flush()
        elif event == "error":
            print(f"\nhearth: {fields['message']}", file=sys.stderr)

    core = open_core()
    try:
        plan = plan_export(core.db, args.adapter, args.to, Path(args.out) if args.out else None)
        say("planned", out=str(plan.out), adapter=plan.adapter_name, base=plan.base_name)
        path = run_export(plan, dtype=args.dtype,
                          progress=lambda done, total, what: say("progress", done=done, total=total, what=what))
        added = add_to_library(core.db, plan, path) if args.add_to_library else None
    except (MergeError, LookupError, OSError) as exc:
        say("error", message=str(exc))
        return 2
    finally:
        core.db.close()
    say("done", path=str(path), model_id=added.model_id if added else None,
        model_name=added.model_name if added else None)
    if not args.json:
        print(f"\nWrote {path}" + (f" (in Models as {added.model_name})" if added else ""), file=sys.stderr)
    return 0


def run(args: argparse.Namespace) -> int:
    if args.command == "train":
        return train(args)
    if args.command == "dataset":
        return dataset_build(args)
    if args.adapters_what == "export":
        return adapters_export(args)
    return adapters_list(args)
