import json
import subprocess
import sys
import textwrap
from dataclasses import replace

import pytest

from app.core.engine.backend import ChatMessage, ModelLoadError
from app.core.engine.events import Finished, TextDelta
from app.core.engine.llama_backend import LlamaBackend, StopStringFilter
from app.core.engine.params import GenerationParams

# ignore_eos: every reply runs to max_tokens, so no assertion hangs on where the model would choose to stop
GREEDY = GenerationParams(temperature=0.0, max_tokens=48, seed=1, ignore_eos=True)
ASK = [ChatMessage("user", "Name three colours of the rainbow.")]


def _run(backend, messages=ASK, params=GREEDY, should_stop=lambda: False):
    events = list(backend.stream(messages, params, should_stop))
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    final = events[-1]
    assert isinstance(final, Finished)
    return text, final


def test_streams_text_and_reports_true_stats(llama):
    text, final = _run(llama)
    assert text.strip() and final.text == text
    assert (final.completion_tokens, final.finish_reason) == (48, "length")
    assert final.prompt_tokens == llama.count_tokens(ASK)
    assert 0 < final.ttft_s < final.elapsed_s
    assert final.tokens_per_s > 1
    # the completion count is the model's own token count of what it wrote (give or take the end token)
    assert abs(len(llama.llm.tokenize(text.encode(), add_bos=False)) - final.completion_tokens) <= 2


def test_max_tokens_is_respected(llama):
    _, final = _run(llama, params=GenerationParams(temperature=0.0, max_tokens=5, ignore_eos=True))
    assert (final.completion_tokens, final.finish_reason) == (5, "length")


def _single_token(llama, text: str) -> int:
    (token,) = llama.llm.tokenize(text.encode(), add_bos=False, special=False)
    return token


def test_ignore_eos_bans_every_end_of_turn_token(llama):
    ends = llama._end_tokens()
    assert llama.llm.token_eos() in ends and len(ends) < 100
    # a huge bias towards an end token would end the reply at once; ignore_eos must win over it
    forced_end = GenerationParams(temperature=0.0, max_tokens=12, logit_bias=((llama.llm.token_eos(), 100.0),))
    _, ended = _run(llama, params=forced_end)
    assert (ended.completion_tokens, ended.finish_reason) == (0, "stop")
    _, kept = _run(llama, params=replace(forced_end, ignore_eos=True))
    assert (kept.completion_tokens, kept.finish_reason) == (12, "length")


@pytest.mark.parametrize("temperature", [0.0, 0.9])
def test_logit_bias_forces_a_token(llama, temperature):
    blue = _single_token(llama, " blue")
    params = GenerationParams(temperature=temperature, max_tokens=6, seed=3, logit_bias=((blue, 100.0),))
    text, final = _run(llama, params=params)
    assert text == " blue" * 6 and final.completion_tokens == 6


def test_stop_takes_effect_within_one_token_and_the_model_stays_usable(llama):
    calls = []

    def stop_now():
        calls.append(1)
        return True

    _, final = _run(llama, params=replace(GREEDY, max_tokens=200), should_stop=stop_now)
    assert final.finish_reason == "stopped"
    assert final.completion_tokens == 1 and len(calls) == 1
    text_after, again = _run(llama)
    text_fresh, _ = _run(llama)
    assert again.completion_tokens > 1 and text_after == text_fresh  # greedy: same answer, nothing left over


def test_chat_template_comes_from_the_model_file(llama):
    assert llama.info.template_name == "ChatML"
    assert "model file" in llama.info.template_origin
    prompt = llama.template.render([ChatMessage("system", "Be brief."), ChatMessage("user", "Hi")])
    assert prompt.startswith("<|im_start|>system\nBe brief.<|im_end|>")
    assert prompt.endswith("<|im_start|>assistant\n")


def test_token_counting_uses_the_model_tokenizer(llama):
    short = llama.count_tokens([ChatMessage("user", "Hi")])
    longer = llama.count_tokens([ChatMessage("user", "Hi " * 50)])
    assert 0 < short < longer
    assert longer - short >= 45


def test_stop_strings_cut_the_reply(llama):
    """The reply is forced to " blue blue …" with end of turn banned, so "stop" can only mean the stop string,
    which here spans two tokens: the first token's last letter is held back until the match completes."""
    blue = _single_token(llama, " blue")
    params = GenerationParams(temperature=0.0, max_tokens=20, stop=("e b",), ignore_eos=True,
                              logit_bias=((blue, 100.0),))
    text, final = _run(llama, params=params)
    assert (text, final.text, final.finish_reason, final.completion_tokens) == (" blu", " blu", "stop", 2)
    unstopped = replace(params, stop=("blue!",))
    text, final = _run(llama, params=unstopped)
    assert (text, final.finish_reason) == (" blue" * 20, "length")  # a held-back partial match is flushed


def test_stop_string_filter_holds_back_partial_matches():
    f = StopStringFilter(["</end>"])
    assert f.feed("hello </e") == ("hello ", False)
    assert f.feed("nd> more") == ("", True)
    g = StopStringFilter(["STOP"])
    assert g.feed("ST") == ("", False)
    assert g.feed("ay") == ("STay", False)


@pytest.mark.parametrize("content", [b"not a model at all" * 10, b"GGUF\x03\x00\x00\x00" + b"\xff" * 40])
def test_broken_file_gives_a_clear_error_not_a_crash(tmp_path, content):
    path = tmp_path / "broken.gguf"
    path.write_bytes(content)
    with pytest.raises(ModelLoadError, match="broken.gguf"):
        LlamaBackend(path)


def test_unload_frees_the_memory(starter_path):
    """In a fresh process: other tests' allocations (torch, the shared model) would blur the numbers here."""
    script = textwrap.dedent(
        f"""
        import json, psutil
        from app.core.engine.backend import ChatMessage
        from app.core.engine.llama_backend import LlamaBackend
        from app.core.engine.params import GenerationParams
        proc = psutil.Process()
        before = proc.memory_info().rss
        backend = LlamaBackend({str(starter_path)!r}, n_ctx=4096, n_threads=1)
        for _ in backend.stream([ChatMessage("user", "Hi")], GenerationParams(max_tokens=8), lambda: False):
            pass
        loaded = proc.memory_info().rss
        backend.close()
        print(json.dumps([before, loaded, proc.memory_info().rss, backend.llm is None]))
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    before, loaded, after, freed = json.loads(out.stdout.strip().splitlines()[-1])
    grown = loaded - before
    assert grown > 50 * 2**20, "loading should cost memory (weights + KV cache)"
    assert after - before < grown * 0.5, f"unload kept {(after - before) / 2**20:.0f} of {grown / 2**20:.0f} MB"
    assert freed
