"""Fit estimates against hand-computed numbers and against what a real load of the starter model uses."""

import json
import subprocess
import sys
import textwrap

from app.core.library.benchmark import benchmark
from app.core.library.fit import MemoryBudget, MiB, Verdict, estimate
from app.core.library.metadata import summarise_gguf

GiB = 1024 * MiB
LLAMA_8B = {  # Llama-3-8B Q4_K_M as its GGUF header describes it
    "layers": 32, "n_embd": 4096, "n_ff": 14336, "n_head": 32, "n_head_kv": 8, "head_dim": 128,
    "vocab_size": 128256, "weights_bytes": 4_920_000_000, "parameters": 8_030_000_000,
}


def test_kv_cache_follows_the_llama_cpp_formula():
    est = estimate(LLAMA_8B, 8192, budget=MemoryBudget(64 * GiB, 64 * GiB))
    # 2 (K and V) x 32 layers x 8192 positions x 8 KV heads x 128 x 2 bytes (f16) = 1 GiB exactly
    assert est.kv_cache == 1 * GiB
    assert est.verdict == Verdict.FITS and est.total < 8 * GiB


def test_verdicts_against_the_memory_that_is_free():
    small = MemoryBudget(ram_available=5 * GiB, ram_total=8 * GiB)
    assert estimate(LLAMA_8B, 4096, budget=small).verdict == Verdict.WONT_FIT
    roomy = MemoryBudget(ram_available=6 * GiB + 512 * MiB, ram_total=8 * GiB)  # needs ~5.5 GiB
    assert estimate(LLAMA_8B, 4096, budget=roomy).verdict == Verdict.TIGHT
    big = MemoryBudget(ram_available=30 * GiB, ram_total=32 * GiB)
    assert estimate(LLAMA_8B, 4096, budget=big).verdict == Verdict.FITS
    # the same model needs its weights in float32 on transformers: 32 GB
    assert estimate(LLAMA_8B, 4096, backend="transformers", budget=big).verdict == Verdict.WONT_FIT


def test_gpu_offload_moves_memory_to_vram():
    budget = MemoryBudget(ram_available=3 * GiB, ram_total=16 * GiB, vram_available=12 * GiB, vram_total=16 * GiB)
    assert estimate(LLAMA_8B, 4096, budget=budget).verdict == Verdict.WONT_FIT
    offloaded = estimate(LLAMA_8B, 4096, gpu_layers=32, budget=budget)
    assert offloaded.verdict == Verdict.FITS and offloaded.on_gpu > 5 * GiB
    assert "VRAM" in offloaded.explain()


def test_missing_shape_gives_unknown_not_a_guess():
    assert estimate({"weights_bytes": 10}, 4096).verdict == Verdict.UNKNOWN


def test_estimate_is_close_to_a_measured_load_of_the_starter(starter_path, tmp_path):
    """Load the starter in a clean process, fill part of the context, and compare resident memory to the estimate."""
    script = textwrap.dedent(
        f"""
        import json
        from app.core.engine.backend import ChatMessage
        from app.core.engine.host import ModelHost
        from app.core.engine.params import GenerationParams
        from app.core.library.memory_meter import LoadMeter
        meter = LoadMeter()
        meter.before_load()
        backend = ModelHost(n_ctx=2048).load(1, {str(starter_path)!r}, "starter", "gguf")
        for _ in backend.stream([ChatMessage("user", "word " * 1500)], GenerationParams(max_tokens=8), lambda: False):
            pass
        print(json.dumps({{"peak": meter.sample()}}))
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    measured = json.loads(out.stdout.strip().splitlines()[-1])["peak"]
    est = estimate(summarise_gguf(starter_path), 2048)
    ratio = measured / est.total
    print(f"starter n_ctx 2048: estimate {est.total / MiB:.0f} MiB, measured {measured / MiB:.0f} MiB ({ratio:.2f})")
    assert 0.6 < ratio < 1.25, est.explain()


def test_benchmark_reports_prompt_and_generation_speed(llama):
    result = benchmark(llama, prompt_tokens=256, gen_tokens=32)
    assert result["prompt_tokens"] >= 256 and result["gen_tokens"] > 0
    assert result["prompt_tok_s"] > result["gen_tok_s"] > 0  # prompt processing is batched, so faster
    assert result["backend"] == "llama.cpp"
