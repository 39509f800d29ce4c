import json

from app.core.storage import conversations as convs
from app.core.training.examples import from_conversations, from_jsonl, from_writing

GOOD_OPENAI = {"messages": [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "Hi"},
                            {"role": "assistant", "content": "Hello!"}]}
GOOD_SHAREGPT = {"conversations": [{"from": "human", "value": "2+2?"}, {"from": "gpt", "value": "4"}]}
GOOD_ALPACA = {"instruction": "Translate to French", "input": "cat", "output": "chat"}


def _write_lines(path, lines):
    path.write_bytes(b"\n".join(line if isinstance(line, bytes) else line.encode() for line in lines) + b"\n")
    return path


def test_each_jsonl_format_is_detected_per_line(tmp_path):
    path = _write_lines(tmp_path / "mixed.jsonl", [json.dumps(GOOD_OPENAI), json.dumps(GOOD_SHAREGPT),
                                                   json.dumps(GOOD_ALPACA)])
    result = from_jsonl(path)
    assert not result.problems
    openai, sharegpt, alpaca = result.examples
    assert [(t.role, t.content, t.train) for t in openai.turns] == [
        ("system", "Be kind.", False), ("user", "Hi", False), ("assistant", "Hello!", True)]
    assert [(t.role, t.content) for t in sharegpt.turns] == [("user", "2+2?"), ("assistant", "4")]
    assert [(t.role, t.content) for t in alpaca.turns] == [("user", "Translate to French\n\ncat"), ("assistant", "chat")]
    assert [e.origin for e in result.examples] == ["mixed.jsonl:1", "mixed.jsonl:2", "mixed.jsonl:3"]


def test_every_malformed_line_is_reported_with_file_line_and_reason_and_good_lines_still_count(tmp_path):
    lines = [
        json.dumps(GOOD_OPENAI),                                                     # 1 good
        '{"messages": [{"role": "user", "content": "hi"}',                           # 2 broken JSON
        json.dumps({"text": "plain"}),                                               # 3 unknown format
        json.dumps({"messages": [{"role": "robot", "content": "x"}]}),               # 4 bad role
        json.dumps({"messages": [{"role": "user", "content": "hi"}]}),               # 5 nothing to learn
        json.dumps({"messages": [{"role": "user", "content": ""},
                                 {"role": "assistant", "content": "x"}]}),           # 6 empty message
        json.dumps(["a", "list"]),                                                   # 7 not an object
        json.dumps({"conversations": [{"from": "alien", "value": "x"}]}),            # 8 bad ShareGPT speaker
        json.dumps({"instruction": "Do it", "output": ""}),                          # 9 Alpaca without output
        json.dumps({"messages": [{"role": "user", "content": 5},
                                 {"role": "assistant", "content": "x"}]}),           # 10 content not text
        b"\xff\xfe not utf-8",                                                       # 11 bad bytes
        "",                                                                          # 12 blank: skipped quietly
        json.dumps(GOOD_ALPACA),                                                     # 13 good
    ]
    result = from_jsonl(_write_lines(tmp_path / "data.jsonl", lines))
    assert [e.origin for e in result.examples] == ["data.jsonl:1", "data.jsonl:13"]
    where = {p.where: p.reason for p in result.problems}
    assert sorted(where) == sorted(f"data.jsonl:{n}" for n in range(2, 12))
    assert "not valid JSON" in where["data.jsonl:2"]
    assert "unknown format" in where["data.jsonl:3"] and "text" in where["data.jsonl:3"]
    assert "'robot'" in where["data.jsonl:4"]
    assert "no assistant reply" in where["data.jsonl:5"]
    assert "empty" in where["data.jsonl:6"]
    assert "JSON object" in where["data.jsonl:7"]
    assert "'alien'" in where["data.jsonl:8"]
    assert "`output`" in where["data.jsonl:9"]
    assert "must be text" in where["data.jsonl:10"]
    assert "UTF-8" in where["data.jsonl:11"]
    assert str(result.problems[0]).startswith("data.jsonl:2: ")


def test_a_missing_or_empty_file_is_a_problem_not_a_crash(tmp_path):
    assert "cannot be read" in from_jsonl(tmp_path / "nope.jsonl").problems[0].reason
    (tmp_path / "empty.jsonl").write_text("")
    assert from_jsonl(tmp_path / "empty.jsonl").problems[0].reason == "the file is empty"


def _rated_conversation(session):
    conv = convs.create_conversation(session, system_prompt="You are terse.")
    u1 = convs.add_message(session, conv.id, role="user", content="Capital of France?")
    a1 = convs.add_message(session, conv.id, role="assistant", content="Paris, I think.", parent_id=u1.id)
    u2 = convs.add_message(session, conv.id, role="user", content="And of Italy?", parent_id=a1.id)
    a2 = convs.add_message(session, conv.id, role="assistant", content="Rome.", parent_id=u2.id)
    u3 = convs.add_message(session, conv.id, role="user", content="And Spain?", parent_id=a2.id)
    a3 = convs.add_message(session, conv.id, role="assistant", content="Lisbon.", parent_id=u3.id)
    convs.set_feedback(session, a1.id, rating=-1, correction="Paris.")
    convs.set_feedback(session, a2.id, rating=1)
    convs.set_feedback(session, a3.id, rating=-1)  # wrong and not corrected: never a target
    return conv


def test_rated_replies_become_examples_and_corrections_replace_the_rated_text(core):
    with core.db.session() as session:
        conv = _rated_conversation(session)
        result = from_conversations(session)
    assert not result.problems
    corrected, thumbs_up = result.examples
    assert [(t.role, t.content, t.train) for t in corrected.turns] == [
        ("system", "You are terse.", False), ("user", "Capital of France?", False), ("assistant", "Paris.", True)]
    # The earlier reply appears corrected in the later example's context, and only the rated reply is learned.
    assert [(t.role, t.content, t.train) for t in thumbs_up.turns] == [
        ("system", "You are terse.", False), ("user", "Capital of France?", False), ("assistant", "Paris.", False),
        ("user", "And of Italy?", False), ("assistant", "Rome.", True)]
    assert "corrected reply" in corrected.origin and f"conversation {conv.id}" in corrected.origin
    with core.db.session() as session:
        assert len(from_conversations(session, min_rating=2).examples) == 1  # corrections count whatever the rating
        assert not from_conversations(session, conversation_ids=[conv.id + 1]).examples


def test_writing_is_cut_into_passages_of_whole_paragraphs(tmp_path):
    folder = tmp_path / "writing"
    folder.mkdir()
    paragraphs = [" ".join(f"word{p}_{i}" for i in range(90)) + "." for p in range(5)]
    (folder / "essay.md").write_text("# On Walking\n\n" + "\n\n".join(paragraphs), encoding="utf-8")
    long_one = " ".join(f"Sentence number {i} is here." for i in range(200))
    (folder / "notes.txt").write_text(long_one, encoding="utf-8")
    (folder / "broken.txt").write_bytes(b"caf\xe9 latin-1")
    (folder / "empty.md").write_text("\n\n")
    (folder / "script.py").write_text("print('not writing')")
    result = from_writing(folder, chunk_words=200)
    where = {p.where: p.reason for p in result.problems}
    assert "UTF-8" in where["broken.txt"] and where["empty.md"] == "has no text"
    essay = [e for e in result.examples if e.origin.startswith("essay.md")]
    assert essay[0].turns[0].content == "Write in my own voice: On Walking"
    texts = [e.turns[1].content for e in essay]
    assert " ".join(texts).split() == " ".join(paragraphs).split(), "every word once, in order, heading left out"
    assert all(len(t.split()) <= 200 for t in texts)
    assert paragraphs[0] in essay[1].turns[0].content or paragraphs[1] in essay[1].turns[0].content  # quotes the last one
    notes = [e for e in result.examples if e.origin.startswith("notes.txt")]
    assert len(notes) >= 4 and all(e.turns[1].content.endswith(".") for e in notes), "cut between sentences"
    assert not any(e.origin.startswith("script.py") for e in result.examples)
