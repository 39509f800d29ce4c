"""`hearth monitor`: one hardware sample, as JSON for scripts and bug reports or as a few readable lines."""

from __future__ import annotations

import argparse
import json
import sys
import time

from app.core.units import format_bytes


def add_parser(sub) -> None:
    monitor = sub.add_parser("monitor", help="print one hardware sample (CPU, memory, Hearth, disks, GPU)")
    monitor.add_argument("--json", action="store_true", help="the sample as JSON (the same fields the app charts)")
    monitor.add_argument("--interval", type=float, default=0.5,
                         help="seconds over which CPU use is measured (default 0.5)")


def _text(sample) -> str:
    mem, cpu = sample.memory, sample.cpu
    lines = [
        f"CPU      {cpu.percent:.0f} % over {len(cpu.per_core)} cores (" + " ".join(f"{c:.0f}" for c in cpu.per_core) + ")",
        f"Memory   {format_bytes(mem.used)} used of {format_bytes(mem.total)}, {format_bytes(mem.available)} free"
        + (f", swap {format_bytes(mem.swap_used)} of {format_bytes(mem.swap_total)}" if mem.swap_total else ", no swap")
        + (" (unified)" if mem.unified else ""),
    ]
    lines += [f"Process  {p.label} (pid {p.pid}): {format_bytes(p.rss)}, {p.cpu_percent:.0f} % of a core"
              for p in sample.processes]
    lines += [f"Disk     {d.path}: {format_bytes(d.free)} free of {format_bytes(d.total)}" for d in sample.disks]
    if sample.gpu.available:
        for g in sample.gpu.devices:
            extras = [f"{v:.0f}{unit}" for v, unit in ((g.utilization_percent, " %"), (g.temperature_c, " °C"),
                                                         (g.power_w, " W")) if v is not None]
            lines.append(f"GPU {g.index}    {g.name}: {format_bytes(g.memory_used)} of {format_bytes(g.memory_total)} VRAM, "
                         + ", ".join(extras))
    else:
        lines.append(f"GPU      {sample.gpu.reason}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from app.core.hardware.sampler import HardwareSampler
    from app.core.library.scan import model_folders
    from app.core.startup import open_core

    core = open_core()
    try:
        with core.db.session() as session:
            folders = model_folders(session)
    finally:
        core.db.close()
    sampler = HardwareSampler(folders)
    time.sleep(max(0.05, args.interval))  # CPU use is a difference between two readings
    sample = sampler.sample()
    if args.json:
        json.dump(sample.to_dict(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(_text(sample))
    return 0
