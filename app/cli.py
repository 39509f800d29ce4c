"""The `hearth` command: the window by default, and scriptable sub-commands on the same code paths."""

from __future__ import annotations

import argparse
import sys


def _parser() -> argparse.ArgumentParser:
    from app import __version__

    parser = argparse.ArgumentParser(prog="hearth", description="Your own AI assistant, on your own computer. "
                                     "With no command, the window opens.")
    parser.add_argument("--version", action="version", version=f"hearth {__version__}",
                        help="print the version and exit")
    # COMMAND, not the list of every choice: the internal commands (no help=) stay out of the usage and the list
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")

    chat = sub.add_parser("chat", help="stream one reply to stdout and save it as a conversation")
    chat.add_argument("prompt", help="what to say to the model")
    chat.add_argument("--conversation", type=int, help="continue this conversation (id) instead of starting one")
    chat.add_argument("--model", help="model name or id (default: the default model)")
    chat.add_argument("--system", help="system prompt for a new conversation")
    chat.add_argument("--temperature", type=float, help="randomness, 0 to 2 (0: always the most likely word)")
    chat.add_argument("--max-tokens", type=int, help="the longest reply, in tokens")
    chat.add_argument("--seed", type=int, help="fix it to get the same reply again (-1: a new one each time)")
    chat.add_argument("--ignore-eos", action="store_true",
                      help="never end the reply early: write until --max-tokens (for scripts and benchmarks)")
    chat.add_argument("--adapter", help="answer through a trained adapter (name or id; see `hearth adapters list`)")

    export = sub.add_parser("export", help="print conversations as JSON or Markdown")
    export.add_argument("--format", choices=("json", "md"), default="json", help="JSON (default) or Markdown")
    export.add_argument("--conversation", type=int, help="only this conversation (id); default: all of them")

    shot = sub.add_parser("screenshot", help="render the window to a PNG: sample data, real replies (no display needed)")
    shot.add_argument("out", help="the PNG file to write")
    shot.add_argument("--tab", default="chat", help="what to show",
                      choices=("chat", "models", "hub", "monitor", "training", "training-new", "training-ab",
                               "training-export", "training-finished", "training-empty", "server", "server-idle",
                               "settings"))
    shot.add_argument("--width", type=int, default=1280, help="window width in pixels (default 1280)")
    shot.add_argument("--height", type=int, default=800, help="window height in pixels (default 800)")

    bench = sub.add_parser("bench", help="measure Hearth against the raw libraries")
    bench_sub = bench.add_subparsers(dest="bench_what", required=True)
    bench_chat = bench_sub.add_parser("chat", help="decode speed, TTFT, UI stalls, start-up time, idle memory")
    bench_chat.add_argument("--json", dest="json_out", help="also write the figures to this JSON file")
    bench_chat.add_argument("--tokens", type=int, default=200, help="tokens generated per reply (default 200)")
    bench_chat.add_argument("--rounds", type=int, default=3, help="measured rounds of each (default 3)")
    bench_api = bench_sub.add_parser("api", help="the OpenAI API: Hearth vs llama_cpp.server vs a raw loop, "
                                     "one client and several at once")
    bench_api.add_argument("--json", dest="json_out", help="also write the figures to this JSON file")
    bench_api.add_argument("--tokens", type=int, default=128, help="tokens generated per reply (default 128)")
    bench_api.add_argument("--rounds", type=int, default=3, help="alternating rounds of each (default 3)")
    bench_api.add_argument("--clients", type=int, default=8, help="clients at once in the load part (default 8)")

    from app.cli_models import add_parser as add_models_parser

    add_models_parser(sub)
    from app.cli_monitor import add_parser as add_monitor_parser
    from app.cli_train import add_parsers as add_training_parsers

    add_training_parsers(sub)

    add_monitor_parser(sub)
    from app.cli_serve import add_parser as add_serve_parser

    add_serve_parser(sub)

    bench_download = bench_sub.add_parser(
        "download", help="download throughput through Hearth vs a plain hf_hub_download, from a local hub"
    )
    bench_download.add_argument("--size-mb", type=int, default=256, help="size of the served file in MB (default 256)")
    bench_download.add_argument("--rounds", type=int, default=3, help="alternating rounds of each (default 3)")

    bench_monitor = bench_sub.add_parser(
        "monitor", help="what the Monitor tab costs in CPU, and one sample against raw psutil"
    )
    bench_monitor.add_argument("--seconds", type=float, default=20.0, help="length of each measured stretch")

    bench_train_chat = bench_sub.add_parser(
        "train-chat", help="chat decode speed and a training job's time, each alone and together, with the job "
        "giving way to replies and without"
    )
    bench_train_chat.add_argument("--steps", type=int, default=40, help="training steps of each job (default 40)")
    bench_train_chat.add_argument("--tokens", type=int, default=128, help="tokens generated per reply (default 128)")
    bench_train_chat.add_argument("--engine-threads", type=int, default=None,
                                  help="the engine's threads (default: Settings, one core left free)")
    bench_train_chat.add_argument("--json", dest="json_out", help="also write the figures to this JSON file")

    worker = sub.add_parser("train-worker", description="Run one training job (the app starts this in a child "
                            "process).")
    worker.add_argument("job", help="the job file (job.json in the run folder)")
    worker.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    worker.add_argument("--detached", action="store_true", help="write stderr to the run folder, stdout nowhere")
    worker.add_argument("--end-with", type=int, metavar="PID", help="stop when this process (the starter) ends")

    bench_train = bench_sub.add_parser(
        "train", help="training tokens/s of Hearth's worker vs a plain Trainer script (SFT) and TRL's DPOTrainer"
    )
    bench_train.add_argument("--steps", type=int, default=24, help="training steps per variant (default 24)")
    bench_train.add_argument("--batch", type=int, default=8, help="examples per step (default 8)")
    bench_train.add_argument("--examples", type=int, default=96, help="chats in the SFT set (default 96)")
    bench_train.add_argument("--rounds", type=int, default=3, help="interleaved rounds of each variant (default 3)")
    bench_train.add_argument("--dpo-steps", type=int, default=12,
                             help="steps of the DPO comparison against TRL (default 12; 0 leaves it out)")
    bench_train.add_argument("--pairs", type=int, default=48, help="preference pairs in the DPO set (default 48)")
    bench_train.add_argument("--json", dest="json_out", help="also write the figures to this JSON file")
    bench_train.add_argument("--trainer-bf16", action="store_true",
                             help="add the plain Trainer with bf16=True (CPU autocast) as a third SFT variant")

    probe = sub.add_parser("window-probe", description="Used by the start-up benchmark.")
    probe.add_argument("what", choices=("shown", "idle-rss"))
    layout_probe = sub.add_parser("llama-layout-probe", description="Used by the engine: whether this CPU runs "
                                  "llama.cpp's extra weight layouts (a crash here costs only this process).")
    layout_probe.add_argument("model", help="a small GGUF model to try")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from app import log_setup

    log_setup.start(log_setup.process_kind(args.command))
    if args.command in (None, "window-probe"):
        from app.ui.start_check import start_problem

        problem = start_problem()  # before Qt, which would abort with a message that names no package
        if problem:
            print(problem, file=sys.stderr)
            return 1
    if args.command is None:
        from app.ui.app import run_window

        return run_window()
    if args.command == "chat":
        from app.cli_chat import chat

        return chat(args)
    if args.command == "export":
        from app.core.export import export_json, export_markdown
        from app.core.startup import open_core

        core = open_core()
        try:
            text = (export_json if args.format == "json" else export_markdown)(core.db, args.conversation)
        except LookupError as exc:
            print(f"hearth: {exc}", file=sys.stderr)
            return 2
        sys.stdout.write(text + "\n")
        return 0
    if args.command == "screenshot":
        from app.ui.screenshot import screenshot

        return screenshot(args.out, tab=args.tab, size=(args.width, args.height))
    if args.command == "bench" and getattr(sys, "frozen", False):  # the app bundle leaves the benchmarks out
        print("hearth: the benchmarks run from a source checkout (pip install -e '.[train,dev]'), not from the app",
              file=sys.stderr)
        return 1
    if args.command == "bench" and args.bench_what == "download":
        from app.bench.download_bench import main as bench_download

        return bench_download(["--size-mb", str(args.size_mb), "--rounds", str(args.rounds)])
    if args.command == "bench" and args.bench_what == "train":
        from app.bench.train_bench import main as bench_train

        return bench_train(steps=args.steps, batch=args.batch, examples=args.examples, rounds=args.rounds,
                           dpo_steps=args.dpo_steps, pairs=args.pairs, json_out=args.json_out,
                           trainer_bf16=args.trainer_bf16)
    if args.command == "bench" and args.bench_what == "train-chat":
        from app.bench.train_chat_bench import main as bench_train_chat

        return bench_train_chat(steps=args.steps, tokens=args.tokens, json_out=args.json_out,
                                engine_threads=args.engine_threads)
    if args.command == "bench" and args.bench_what == "monitor":
        from app.bench.monitor_bench import main as bench_monitor

        return bench_monitor(args.seconds)
    if args.command == "bench" and args.bench_what == "api":
        from app.bench.api_bench import run as bench_api

        return bench_api(args)
    if args.command == "bench":
        from app.bench.chat_bench import run

        return run(args)
    if args.command == "models":
        from app.cli_models import run as run_models

        return run_models(args)
    if args.command == "monitor":
        from app.cli_monitor import run as run_monitor

        return run_monitor(args)
    if args.command in ("train", "dataset", "adapters"):
        from app.cli_train import run as run_training

        return run_training(args)
    if args.command == "serve":
        from app.cli_serve import run as run_serve

        return run_serve(args)
    if args.command == "train-worker":
        from app.core.training.worker import main as train_worker

        return train_worker(args.job, resume=args.resume, detached=args.detached, end_with=args.end_with)
    if args.command == "llama-layout-probe":
        from app.core.engine.cpu_layouts import probe_main

        return probe_main(args.model)
    if args.command == "window-probe":
        from app.ui.app import run_window

        return run_window(probe=args.what)
    return 2
