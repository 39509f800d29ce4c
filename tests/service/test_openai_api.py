"""The OpenAI-compatible API through the official `openai` client, against a real `hearth serve` subprocess with the
starter model: every reply's shape is forced (logit_bias, ignore_eos, a grammar), never hoped for."""

from __future__ import annotations

import json
import math

import httpx
import openai
import pytest
from httpx_sse import connect_sse

from app.core.engine.backend import ChatMessage
from tests.helpers.openai_engine import STARTER, running_engine

KEY = "sk-test-key"
ADAPTER = "tiny"
QUESTION = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name a colour."}]


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    home = tmp_path_factory.mktemp("openai-engine")
    with pytest.MonkeyPatch.context() as mp:  # register an adapter in that data folder before the engine opens it
        mp.setenv("HEARTH_HOME", str(home))
        from app.core.startup import open_core
        from tests.helpers.tiny_adapter import register_tiny_adapter

        core = open_core()
        register_tiny_adapter(core, home / "adapter", ADAPTER)
        core.db.close()
    with running_engine(home, api_key=KEY, settings={"server_keep_api_conversations": True}) as eng:
        yield eng


@pytest.fixture(scope="module")
def client(engine):
    return engine.client()


def _token(llama, text: str) -> int:
    ids = llama.llm.tokenize(text.encode(), add_bos=False)
    assert len(ids) == 1, f"{text!r} is not one token"
    return ids[0]


def test_models_lists_the_library_and_adapters_by_name(client):
    ids = [m.id for m in client.models.list().data]
    assert STARTER in ids and f"{STARTER}@{ADAPTER}" in ids


def test_chat_usage_is_the_tokenizers_own_and_max_tokens_holds(client, llama):
    blue = _token(llama, " blue")
    reply = client.chat.completions.create(model=STARTER, messages=QUESTION, max_tokens=6, seed=1,
                                           logit_bias={str(blue): 100})
    assert reply.choices[0].message.content == " blue" * 6
    assert reply.choices[0].finish_reason == "length"
    expected_prompt = len(llama.prompt_tokens([ChatMessage(m["role"], m["content"]) for m in QUESTION]))
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (expected_prompt, 6)
    assert reply.usage.total_tokens == expected_prompt + 6
    assert reply.id.startswith("chatcmpl-") and reply.model == STARTER


def test_streaming_chat_gives_the_same_text_and_usage_at_the_end(client, llama):
    green = _token(llama, " green")
    stream = client.chat.completions.create(model=STARTER, messages=QUESTION, max_completion_tokens=5,
                                            logit_bias={str(green): 100}, stream=True,
                                            stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == " green" * 5
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 5
    assert len({c.id for c in chunks}) == 1


def test_completions_tokenize_the_raw_prompt(client, llama):
    prompt = "The capital of France is"
    reply = client.completions.create(model=STARTER, prompt=prompt, max_tokens=4, seed=2,
                                      extra_body={"ignore_eos": True})
    assert reply.usage.prompt_tokens == len(llama.text_tokens(prompt))
    assert reply.usage.completion_tokens == 4 and reply.choices[0].finish_reason == "length"
    parts = [c.choices[0].text for c in client.completions.create(
        model=STARTER, prompt=prompt, max_tokens=4, seed=2, stream=True, extra_body={"ignore_eos": True})]
    assert "".join(parts) == reply.choices[0].text  # same seed, same settings: the same text streamed


@pytest.mark.parametrize("stream", [False, True])
def test_a_stop_string_that_occurs_ends_the_reply_before_it(client, stream):
    # The grammar allows exactly one reply, so " gamma" is certain to be written
    fmt = {"type": "json_schema", "json_schema": {"name": "words", "schema": {"enum": ["alpha beta gamma delta"]}}}
    args = dict(model=STARTER, messages=QUESTION, max_tokens=40, response_format=fmt, stop=[" gamma"])
    if stream:
        chunks = [c for c in client.chat.completions.create(**args, stream=True) if c.choices]
        text = "".join(c.choices[0].delta.content or "" for c in chunks)
        finish = chunks[-1].choices[0].finish_reason
    else:
        reply = client.chat.completions.create(**args)
        text, finish = reply.choices[0].message.content, reply.choices[0].finish_reason
    assert (text, finish) == ('"alpha beta', "stop")


def test_json_schema_output_parses_and_validates(client):
    schema = {"type": "object", "additionalProperties": False, "required": ["colour", "count", "ok"],
              "properties": {"colour": {"enum": ["red", "green", "blue"]}, "count": {"type": "integer"},
                             "ok": {"type": "boolean"}}}
    fmt = {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema, "strict": True}}
    for seed in (1, 2):
        reply = client.chat.completions.create(model=STARTER, messages=QUESTION, max_tokens=120, seed=seed,
                                               temperature=1.0, response_format=fmt)
        value = json.loads(reply.choices[0].message.content)
        assert set(value) == {"colour", "count", "ok"} and value["colour"] in ("red", "green", "blue")
        assert isinstance(value["count"], int) and isinstance(value["ok"], bool)


def test_embeddings_are_unit_vectors_that_tell_texts_apart(client, llama):
    texts = ["The cat sat on the mat.", "Quarterly revenue grew by four percent.", "The cat sat on the mat."]
    result = client.embeddings.create(model=STARTER, input=texts)  # the client asks for base64
    vectors = [d.embedding for d in result.data]
    assert [d.index for d in result.data] == [0, 1, 2] and len(vectors[0]) == llama.llm.n_embd()
    assert all(math.isclose(math.fsum(x * x for x in v), 1.0, rel_tol=1e-3) for v in vectors)
    assert vectors[0] == pytest.approx(vectors[2], abs=1e-5) and vectors[0] != pytest.approx(vectors[1], abs=1e-3)
    assert result.usage.prompt_tokens == sum(len(llama.llm.tokenize(t.encode())) for t in texts)
    plain = httpx.post(f"{client.base_url}embeddings", headers={"Authorization": f"Bearer {KEY}"},
                       json={"model": STARTER, "input": texts[0], "encoding_format": "float"}, timeout=60)
    assert plain.json()["data"][0]["embedding"] == pytest.approx(vectors[0], abs=1e-5)


def test_an_adapter_is_named_with_at(client, llama):
    red = _token(llama, " red")
    reply = client.chat.completions.create(model=f"{STARTER}@{ADAPTER}", messages=QUESTION, max_tokens=3,
                                           logit_bias={str(red): 100})
    assert reply.model == f"{STARTER}@{ADAPTER}" and reply.choices[0].message.content == " red" * 3


def test_errors_come_in_openais_shape_with_their_status(engine, client, llama):
    with pytest.raises(openai.NotFoundError) as missing:
        client.chat.completions.create(model="no-such-model", messages=QUESTION)
    assert missing.value.body["code"] == "model_not_found" and missing.value.body["param"] == "model"
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model=f"{STARTER}@no-such-adapter", messages=QUESTION)
    long = [{"role": "user", "content": "word " * 6000}]
    with pytest.raises(openai.BadRequestError) as too_long:
        client.chat.completions.create(model=STARTER, messages=long, stream=True)
    assert too_long.value.body["code"] == "context_length_exceeded"
    needed = len(llama.prompt_tokens([ChatMessage("user", long[0]["content"])]))
    assert f"needs {needed} tokens" in too_long.value.message and "holds 4096" in too_long.value.message
    with pytest.raises(openai.BadRequestError, match="embedding context holds 2048"):
        client.embeddings.create(model=STARTER, input=["short", "word " * 3000])
    with pytest.raises(openai.BadRequestError, match="max_tokens asks for 9000"):
        client.chat.completions.create(model=STARTER, messages=QUESTION, max_tokens=9000)
    auth = {"Authorization": f"Bearer {KEY}"}
    bad_json = httpx.post(f"{engine.v1}/chat/completions", content=b"{not json", headers=auth)
    assert bad_json.status_code == 400 and bad_json.json()["error"]["type"] == "invalid_request_error"
    no_messages = httpx.post(f"{engine.v1}/chat/completions", json={"model": STARTER}, headers=auth)
    assert no_messages.status_code == 422 and no_messages.json()["error"]["param"] == "messages"
    with pytest.raises(openai.UnprocessableEntityError):
        client.chat.completions.create(model=STARTER, messages=QUESTION, temperature=5)


def test_the_key_is_enforced_when_set(engine):
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        refused = httpx.get(f"{engine.v1}/models", headers=headers)
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_api_key"
    with pytest.raises(openai.AuthenticationError):
        engine.client(key="wrong").chat.completions.create(model=STARTER, messages=QUESTION, max_tokens=1)
    assert httpx.get(f"{engine.v1}/models", headers={"Authorization": f"Bearer {engine.token}"}).status_code == 200


def test_feedback_rates_a_kept_completion_and_it_becomes_training_data(engine, client, llama):
    blue = _token(llama, " blue")
    reply = client.chat.completions.create(model=STARTER, messages=QUESTION, max_tokens=2,
                                           logit_bias={str(blue): 100})
    rated = client.post("/hearth/feedback", cast_to=object,
                        body={"id": reply.id, "rating": 1, "correction": "Blue."})
    assert rated["corrected"] is True
    with pytest.raises(openai.NotFoundError):
        client.post("/hearth/feedback", cast_to=object, body={"id": "chatcmpl-unknown", "rating": 1})
    with pytest.raises(openai.UnprocessableEntityError):
        client.post("/hearth/feedback", cast_to=object, body={"id": reply.id, "rating": 5})
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HEARTH_HOME", str(engine.home))
        from app.core.storage import conversations as convs
        from app.core.storage.db import Database
        from app.core.training.examples import from_conversations

        db = Database.open(engine.home / "hearth.sqlite3")
        try:
            with db.session() as s:
                examples = from_conversations(s, api=True).examples
                assert [e.turns[-1].content for e in examples] == ["Blue."]
                assert [t.content for t in examples[0].turns[:2]] == ["Be brief.", "Name a colour."]
                assert convs.list_conversations(s) == []  # kept exchanges are not in the chat list
        finally:
            db.close()


def test_each_request_is_published_for_the_request_log(engine, client):
    seen = []
    with httpx.Client(base_url=engine.url, headers={"Authorization": f"Bearer {engine.token}"}, timeout=60) as web:
        with connect_sse(web, "GET", "/hearth/v1/events") as events:
            client.chat.completions.create(model=STARTER, messages=QUESTION, max_tokens=3, seed=4,
                                           extra_body={"ignore_eos": True})
            for sse in events.iter_sse():
                event = json.loads(sse.data)
                if event.get("event") == "request":
                    seen.append(event)
                    break
    event = seen[0]
    assert (event["route"], event["model"], event["status"], event["completion_tokens"]) == (
        "/v1/chat/completions", STARTER, 200, 3)
    assert event["client"].startswith("127.0.0.1:") and event["prompt_tokens"] > 0
