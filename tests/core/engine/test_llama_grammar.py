"""The llama.cpp backend's API extensions: a grammar the reply must follow, OpenAI's penalties, raw prompts."""

from __future__ import annotations

import json

from llama_cpp.llama_grammar import LlamaGrammar

from app.core.engine.backend import ChatMessage
from app.core.engine.events import Failed, Finished, TextDelta
from app.core.engine.params import GenerationParams

SCHEMA = {
    "type": "object",
    "properties": {"colour": {"enum": ["red", "green", "blue"]}, "count": {"type": "integer"}},
    "required": ["colour", "count"],
    "additionalProperties": False,
}


def _run(llama, params, messages=(ChatMessage("user", "Describe the sky as JSON."),)):
    events = list(llama.stream(list(messages), params, lambda: False))
    return events, events[-1]


def test_a_json_schema_grammar_makes_the_reply_parse_and_validate(llama):
    grammar = LlamaGrammar.from_json_schema(json.dumps(SCHEMA))._grammar
    for seed in (1, 2, 3):
        _events, end = _run(llama, GenerationParams(max_tokens=120, seed=seed, temperature=1.0, grammar=grammar))
        assert isinstance(end, Finished) and end.finish_reason == "stop", end
        value = json.loads(end.text)
        assert set(value) == {"colour", "count"} and value["colour"] in {"red", "green", "blue"}
        assert isinstance(value["count"], int)


def test_a_grammar_llama_cpp_cannot_parse_fails_the_reply_instead_of_the_process(llama):
    _events, end = _run(llama, GenerationParams(max_tokens=8, grammar="root ::= ( unclosed"))
    assert isinstance(end, Failed) and "grammar" in end.message
    _events, end = _run(llama, GenerationParams(max_tokens=4, seed=1))
    assert isinstance(end, Finished)  # the model is still usable


def test_penalties_reach_the_sampler(llama):
    # Greedy decoding is deterministic, so a different reply can only come from the penalty
    plain = GenerationParams(max_tokens=40, seed=5, temperature=0.0, repeat_penalty=1.0, ignore_eos=True)
    _e, free = _run(llama, plain)
    _e, again = _run(llama, plain)
    assert free.text == again.text
    for field in ("frequency_penalty", "presence_penalty"):
        _e, held = _run(llama, GenerationParams(**{**plain.__dict__, field: 2.0}))
        assert held.text != free.text, field


def test_raw_prompt_tokens_stream_without_the_chat_template(llama):
    tokens = llama.text_tokens("The capital of France is")
    events = list(llama.stream_tokens(tokens, GenerationParams(max_tokens=5, seed=1, ignore_eos=True), lambda: False))
    end = events[-1]
    assert isinstance(end, Finished) and end.prompt_tokens == len(tokens) and end.completion_tokens == 5
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == end.text


def test_params_round_trip_the_api_fields_and_know_what_needs_llama_cpp():
    params = GenerationParams.from_dict({"presence_penalty": 0.5, "frequency_penalty": 1, "grammar": "root ::= \"a\""})
    assert GenerationParams.from_dict(params.to_dict()) == params
    assert params.needs_llama_cpp == "a grammar (response_format)"
    assert GenerationParams(presence_penalty=0.3).needs_llama_cpp == "presence and frequency penalties"
    assert GenerationParams().needs_llama_cpp is None
