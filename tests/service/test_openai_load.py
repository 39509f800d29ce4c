"""The OpenAI API under load, against a real `hearth serve`: a client that leaves mid-stream frees the engine, eight
clients at once are all answered without mixing their text, and a full queue says 503 with Retry-After."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor, as_completed

import openai
import pytest
from sqlalchemy import select

from app.core.storage.db import Database
from app.core.storage.models import Message

from tests.helpers.openai_engine import STARTER, running_engine

QUESTION = [{"role": "user", "content": "Name a colour."}]
WORDS = (" red", " green", " blue", " yellow", " black", " white", " orange", " pink")
LONG = 4000  # tokens a forced reply would run to if nobody stopped it (over a minute here)
QUEUE = len(WORDS)  # the engine's queue holds eight waiting requests


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    keep = {"server_keep_api_conversations": True}  # the abandoned reply's row says where it stopped
    with running_engine(tmp_path_factory.mktemp("openai-load"), "--max-queued", str(QUEUE), settings=keep) as eng:
        yield eng


def _token(llama, text: str) -> int:
    ids = llama.llm.tokenize(text.encode(), add_bos=False)
    assert len(ids) == 1, f"{text!r} is not one token"
    return ids[0]


def _endless(client, **kwargs):
    return client.chat.completions.create(model=STARTER, messages=QUESTION, max_tokens=LONG, stream=True,
                                          extra_body={"ignore_eos": True}, **kwargs)


def test_a_client_that_disconnects_mid_stream_frees_the_engine(engine):
    client = engine.client()
    client.models.list()
    warm = client.chat.completions.create(model=STARTER, messages=QUESTION, max_tokens=1)  # loaded, timed below
    assert warm.choices
    stream = _endless(client)
    got = [next(stream) for _ in range(4)]
    assert any(c.choices[0].delta.content for c in got[1:])
    stream.close()  # the client goes away; the engine must stop writing within a token
    started = time.monotonic()
    reply = client.chat.completions.create(model=STARTER, messages=QUESTION, max_tokens=3,
                                           extra_body={"ignore_eos": True})
    # Had the abandoned reply run on, this one would wait for its ~4000 tokens (well over a minute here)
    assert reply.usage.completion_tokens == 3 and time.monotonic() - started < 15
    db = Database.open(engine.home / "hearth.sqlite3")
    try:
        with db.session() as s:
            abandoned = s.scalar(select(Message).where(Message.finish_reason == "stopped"))
            assert abandoned is not None and abandoned.completion_tokens < 100, abandoned
            assert abandoned.content and abandoned.status == "complete"  # what was written before is kept
    finally:
        db.close()


def test_a_client_that_gives_up_on_a_plain_request_frees_the_engine_too(engine):
    impatient = engine.client(timeout=2.0)
    with pytest.raises(openai.APITimeoutError):  # it closes the connection when its timeout passes
        impatient.chat.completions.create(model=STARTER, messages=QUESTION, max_tokens=LONG,
                                          extra_body={"ignore_eos": True, "seed": 77})
    started = time.monotonic()
    reply = engine.client().chat.completions.create(model=STARTER, messages=QUESTION, max_tokens=2)
    assert reply.choices and time.monotonic() - started < 15
    db = Database.open(engine.home / "hearth.sqlite3")
    try:
        with db.session() as s:
            left = [m for m in s.scalars(select(Message).where(Message.finish_reason == "stopped"))
                    if m.params.get("seed") == 77]
            assert len(left) == 1 and left[0].completion_tokens < 400  # about two seconds' worth, not 4000
    finally:
        db.close()


def test_eight_clients_at_once_are_all_answered_with_their_own_text(engine, llama):
    def ask(word: str) -> str:
        client = engine.client()
        stream = client.chat.completions.create(model=STARTER, messages=QUESTION, max_tokens=10, stream=True,
                                                logit_bias={str(_token(llama, word)): 100})
        return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)

    with ThreadPoolExecutor(len(WORDS)) as pool:
        replies = list(pool.map(ask, WORDS))
    assert replies == [word * 10 for word in WORDS]


def test_a_full_queue_answers_503_with_retry_after(engine):
    running = _endless(engine.client())
    next(running)  # admitted and running: QUEUE more may wait, one more is refused

    def ask(_):
        try:
            return engine.client().chat.completions.create(model=STARTER, messages=QUESTION, max_tokens=1)
        except openai.InternalServerError as exc:
            return exc

    with ThreadPoolExecutor(QUEUE + 1) as pool:
        futures = [pool.submit(ask, i) for i in range(QUEUE + 1)]
        refused = next(as_completed(futures, timeout=60)).result()  # the others wait behind the running reply
        running.close()
        answers = [f.result(timeout=120) for f in futures]
    assert isinstance(refused, openai.InternalServerError), refused
    assert refused.status_code == 503 and refused.body["code"] == "queue_full"
    assert int(refused.response.headers["Retry-After"]) > 0
    assert sum(isinstance(a, Exception) for a in answers) == 1  # every waiting one was answered once it was free
