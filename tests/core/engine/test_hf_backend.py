import json
import subprocess
import sys
from dataclasses import replace

import pytest

from app.core.engine.backend import ChatMessage, ModelLoadError
from app.core.engine.events import Finished, TextDelta
from app.core.engine.host import ModelHost
from app.core.engine.params import GenerationParams

pytest.importorskip("torch", reason="the transformers backend needs the [train] extra: pip install -e '.[train]'")
pytest.importorskip("transformers", reason="the transformers backend needs the [train] extra: pip install -e '.[train]'")

# ignore_eos: every reply runs to max_tokens, so no assertion hangs on where the model would choose to stop
GREEDY = GenerationParams(temperature=0.0, max_tokens=32, seed=1, ignore_eos=True)
ASK = [ChatMessage("user", "Name three colours of the rainbow.")]


@pytest.fixture(scope="module")
def hf(starter_path):
    """The starter GGUF, dequantised by transformers, loaded once through the host (the slow part)."""
    host = ModelHost(n_threads=1, n_ctx=2048)
    backend = host.load(1, str(starter_path), "starter", "gguf", backend="transformers")
    assert host.backend_kind == "transformers"
    yield backend
    host.unload()


def _run(backend, messages=ASK, params=GREEDY, should_stop=lambda: False):
    events = list(backend.stream(messages, params, should_stop))
    deltas = [e.text for e in events if isinstance(e, TextDelta)]
    final = events[-1]
    assert isinstance(final, Finished)
    return deltas, final


def test_streams_text_token_by_token_and_reports_true_stats(hf):
    deltas, final = _run(hf)
    text = "".join(deltas)
    assert len(deltas) > 5 and text.strip() and final.text == text
    assert final.prompt_tokens == hf.count_tokens(ASK)
    assert (final.completion_tokens, final.finish_reason) == (GREEDY.max_tokens, "length")
    assert 0 < final.ttft_s < final.elapsed_s
    assert final.tokens_per_s > 1
    assert abs(len(hf.tokenizer(text, add_special_tokens=False)["input_ids"]) - final.completion_tokens) <= 2
    assert hf.info.backend == "transformers" and hf.info.n_ctx == 2048 and hf.info.load_s > 0


def test_max_tokens_is_respected(hf):
    _, final = _run(hf, params=GenerationParams(temperature=0.0, max_tokens=5, ignore_eos=True))
    assert (final.completion_tokens, final.finish_reason) == (5, "length")


def _single_token(hf, text: str) -> int:
    (token,) = hf.tokenizer(text, add_special_tokens=False)["input_ids"]
    return token


def test_ignore_eos_wins_over_a_bias_towards_the_end(hf):
    eos = hf.tokenizer.eos_token_id
    assert eos in hf.eos_ids
    forced_end = GenerationParams(temperature=0.0, max_tokens=8, logit_bias=((eos, 100.0),))
    _, ended = _run(hf, params=forced_end)
    assert (ended.completion_tokens, ended.finish_reason) == (0, "stop")
    _, kept = _run(hf, params=replace(forced_end, ignore_eos=True))
    assert (kept.completion_tokens, kept.finish_reason) == (8, "length")


@pytest.mark.parametrize("temperature", [0.0, 0.9])
def test_logit_bias_forces_a_token(hf, temperature):
    blue = _single_token(hf, " blue")
    params = GenerationParams(temperature=temperature, max_tokens=6, seed=3, logit_bias=((blue, 100.0),))
    deltas, final = _run(hf, params=params)
    assert "".join(deltas) == " blue" * 6 and final.completion_tokens == 6


def test_stop_takes_effect_within_one_token_and_the_model_stays_usable(hf):
    calls = []

    def stop_now():
        calls.append(1)
        return True

    _, final = _run(hf, params=replace(GREEDY, max_tokens=200), should_stop=stop_now)
    assert final.finish_reason == "stopped"
    assert final.completion_tokens == 1 and len(calls) == 1
    params = replace(GREEDY, max_tokens=12)
    after, again = _run(hf, params=params)
    fresh, _ = _run(hf, params=params)
    assert again.completion_tokens > 1 and after == fresh  # greedy: same answer, nothing left over


def test_stop_strings_cut_the_reply(hf):
    """Forced " blue blue …" with end of turn banned: "stop" can only mean the stop string (across two tokens)."""
    blue = _single_token(hf, " blue")
    params = GenerationParams(temperature=0.0, max_tokens=20, stop=("e b",), ignore_eos=True,
                              logit_bias=((blue, 100.0),))
    deltas, final = _run(hf, params=params)
    assert ("".join(deltas), final.finish_reason, final.completion_tokens) == (" blu", "stop", 2)
    deltas, final = _run(hf, params=replace(params, stop=("blue!",)))
    assert ("".join(deltas), final.finish_reason) == (" blue" * 20, "length")


def test_sampling_with_a_seed_repeats(hf):
    params = GenerationParams(temperature=0.9, max_tokens=16, seed=42)
    first, _ = _run(hf, params=params)
    second, _ = _run(hf, params=params)
    assert "".join(first) == "".join(second)


def test_the_chat_template_and_token_count_match_llama_cpp(hf, llama):
    assert (hf.info.template_name, hf.info.template_origin) == ("ChatML", "tokenizer.chat_template in the model file")
    longer = [
        ChatMessage("system", "Be brief."),
        ChatMessage("user", "Hi"),
        ChatMessage("assistant", "Hello!"),
        ChatMessage("user", "Grüße aus Köln 🙂"),
    ]
    for messages in (ASK, longer):
        assert hf.render(messages) == llama.template.render(messages)
        assert hf.count_tokens(messages) == llama.count_tokens(messages)


def test_multibyte_characters_are_never_split(hf):
    from app.core.engine.hf_backend import IncrementalDecoder

    text = "Grüße 🙂🎉 日本語の文章 — naïve café"
    decoder = IncrementalDecoder(hf.tokenizer)
    pieces = [decoder.push(t) for t in hf.tokenizer(text, add_special_tokens=False)["input_ids"]]
    pieces.append(decoder.flush())
    assert "".join(pieces) == text
    assert not any("\ufffd" in p for p in pieces)


@pytest.fixture(scope="module")
def tiny_folder(hf, tmp_path_factory):
    """A tiny random Llama saved as safetensors, with the starter's tokenizer and chat template."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    folder = tmp_path_factory.mktemp("tiny-llama")
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(hf.tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=512, tie_word_embeddings=True,
        eos_token_id=hf.tokenizer.eos_token_id, bos_token_id=hf.tokenizer.bos_token_id,
    )
    LlamaForCausalLM(config).save_pretrained(folder)
    hf.tokenizer.save_pretrained(folder)
    assert list(folder.glob("*.safetensors")) and not list(folder.glob("*.bin"))
    return folder


def test_a_hugging_face_folder_loads_through_the_host_and_swaps_with_llama_cpp(tiny_folder, starter_path):
    host = ModelHost(n_threads=1, n_ctx=4096)
    backend = host.load(7, str(tiny_folder), "tiny", "hf")
    assert host.backend_kind == "transformers" and host.is_loaded(7)
    assert backend.info.n_ctx == 512  # capped at what the model was built for
    assert backend.info.template_name == "ChatML" and "model folder" in backend.info.template_origin
    _, final = _run(backend, params=GenerationParams(temperature=0.0, max_tokens=6, repeat_penalty=1.0,
                                                      ignore_eos=True))
    assert (final.finish_reason, final.completion_tokens) == ("length", 6)
    assert final.prompt_tokens == backend.count_tokens(ASK)

    host.load(8, str(starter_path), "starter", "gguf")
    assert host.backend_kind == "llama.cpp" and backend.model is None  # the folder model was freed first
    host.unload()
    assert host.backend_kind is None


def test_a_folder_without_a_chat_template_is_refused(tiny_folder, tmp_path):
    import shutil

    folder = tmp_path / "base-model"
    shutil.copytree(tiny_folder, folder)
    (folder / "chat_template.jinja").unlink(missing_ok=True)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    config.pop("chat_template", None)
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match="base-model: the model has no chat template"):
        ModelHost().load(9, str(folder), "base", "hf")


def test_a_folder_with_only_pickle_weights_is_refused(tmp_path):
    folder = tmp_path / "old-model"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "llama"}))
    (folder / "pytorch_model.bin").write_bytes(b"\x80\x04not really a pickle")
    with pytest.raises(ModelLoadError, match=r"old-model: .*no \.safetensors.*pytorch_model\.bin.*can run code"):
        ModelHost().load(3, str(folder), "old", "hf")


def test_a_missing_torch_says_which_extra_to_install(tmp_path, monkeypatch):
    from app.core.engine.hf_backend import TransformersBackend

    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"")
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ModelLoadError, match=r"pip install 'hearth\[train\]'"):
        TransformersBackend(folder)


def test_importing_the_host_and_the_window_does_not_import_torch():
    code = (
        "import sys, app.core.engine.host, app.core.engine.hf_backend, app.cli, app.ui.app, app.ui.engine\n"
        "print(sorted(m for m in ('torch', 'transformers', 'peft', 'accelerate') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
