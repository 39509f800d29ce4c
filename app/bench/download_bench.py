"""`hearth bench download`: Hearth's download path against a plain `hf_hub_download`, from the same local hub.

Both fetch one generated GGUF file from a LocalHub (in a child process) on 127.0.0.1, in alternating rounds.
Hearth's time covers what the user waits for once they press Download: listing, access check, transfer, sha256
check and registration in the library; the plain client's covers its metadata request and the transfer into its
cache (it does not hash). Printed: MB/s of each
and the ratio hearth / plain.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from app.core.units import MB, format_bytes

REPO = "hearth-bench/Bench-GGUF"
FILENAME = "bench.Q8_0.gguf"


def _make_file(path: Path, size: int) -> Path:
    """A valid GGUF header followed by `size` bytes of random tensor data (random: nothing compresses it)."""
    from app.core.library.sample_gguf import write_tiny_gguf

    write_tiny_gguf(path, name="bench", sparse_bytes=size)
    rng = random.Random(7)
    with open(path, "r+b") as f:
        f.seek(path.stat().st_size - size)
        for _ in range(size // (8 << 20)):
            f.write(rng.randbytes(8 << 20))
        f.write(rng.randbytes(size % (8 << 20)))
    return path


def _serve(path: str, conn) -> None:
    """Child process: serve the file until told to stop. A separate process keeps the server off our GIL."""
    from app.bench.local_hub import LocalHub

    with LocalHub({REPO: {FILENAME: Path(path)}}) as hub:
        conn.send(hub.endpoint)
        conn.recv()


def _hearth_round(root: Path) -> float:
    from app import paths
    from app.core.library.downloads import create_download, run_download
    from app.core.storage.db import Database

    os.environ["HEARTH_HOME"] = str(root)
    db = Database.open(paths.database_file())  # open before the clock starts: the app has its database open
    started = time.perf_counter()
    info = run_download(db, create_download(db, REPO, FILENAME))
    elapsed = time.perf_counter() - started
    db.close()
    if info.status != "done":
        raise RuntimeError(f"the Hearth download did not finish: {info.status}: {info.error}")
    return elapsed


def _plain_round(root: Path, endpoint: str) -> float:
    from huggingface_hub import hf_hub_download

    started = time.perf_counter()
    hf_hub_download(REPO, FILENAME, cache_dir=root, endpoint=endpoint)
    return time.perf_counter() - started


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="hearth bench download", description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=256, help="size of the generated file (default 256)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each (default 3)")
    args = parser.parse_args(argv)

    from huggingface_hub import constants
    from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    saved_env = {k: os.environ.get(k) for k in ("HEARTH_HOME", "HF_ENDPOINT", "HF_HUB_OFFLINE")}
    saved_offline, bars_were_off = constants.HF_HUB_OFFLINE, are_progress_bars_disabled()
    with tempfile.TemporaryDirectory(prefix="hearth-bench-") as tmp:
        tmp_path = Path(tmp)
        size = args.size_mb * MB
        print(f"generating a {format_bytes(size)} file ...", flush=True)
        source = _make_file(tmp_path / "source" / FILENAME, size)
        total = source.stat().st_size
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        server = ctx.Process(target=_serve, args=(str(source), child), daemon=True)
        server.start()
        try:
            endpoint = parent.recv()
            os.environ.update(HF_ENDPOINT=endpoint, HF_HUB_OFFLINE="0")
            constants.HF_HUB_OFFLINE = False  # the bench talks to 127.0.0.1 only
            disable_progress_bars()
            hearth, plain = [], []
            for n in range(args.rounds):
                for label, times, run in (
                    ("hearth", hearth, lambda root: _hearth_round(root)),
                    ("plain ", plain, lambda root: _plain_round(root, endpoint)),
                ):
                    root = tmp_path / f"{label.strip()}-{n}"
                    seconds = run(root)
                    times.append(seconds)
                    rate = format_bytes(total / seconds) + "/s"
                    print(f"round {n + 1} {label}: {rate:>10}  ({seconds:.2f} s)", flush=True)
                    shutil.rmtree(root, ignore_errors=True)
        finally:
            parent.send("stop")
            server.join(5)
            constants.HF_HUB_OFFLINE = saved_offline
            if not bars_were_off:
                enable_progress_bars()
            for key, value in saved_env.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
    hearth_rate, plain_rate = total / statistics.median(hearth), total / statistics.median(plain)
    print(f"\nfile: {format_bytes(total)}, {args.rounds} rounds each, medians")
    print(f"hearth (download + sha256 check + register): {format_bytes(hearth_rate) + '/s':>10}")
    print(f"plain hf_hub_download:                       {format_bytes(plain_rate) + '/s':>10}")
    print(f"ratio hearth / plain:                        {hearth_rate / plain_rate:10.2f}")
    return 0


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
