"""llama-cpp-python's own OpenAI server (`python -m llama_cpp.server ...`, same arguments), with the weight layouts
Hearth's engine uses on this machine, for `hearth bench api` only.

On a CPU that advertises AMX where a process may not use it, llama.cpp's AMX layouts crash on the first prompt;
Hearth's engine then keeps plain layouts (app/core/engine/cpu_layouts.py). Running the stock server under the same
choice makes both servers run the same kernels, so the benchmark compares the servers and not the layouts.
"""

from __future__ import annotations

import sys

from app.core.engine.cpu_layouts import extra_layouts_allowed, llama_layouts


def main() -> None:
    from llama_cpp.server.__main__ import main as serve

    allowed = extra_layouts_allowed()
    print(f"weight layouts: {'extra (as llama.cpp chooses)' if allowed else 'plain (AMX unusable here)'}",
          file=sys.stderr, flush=True)
    # The server builds its Llama while starting; the patch holds for this process's whole life, which is fine:
    # it is the only model this process ever opens.
    with llama_layouts(allowed):
        serve()


if __name__ == "__main__":
    main()
