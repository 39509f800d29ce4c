"""Preference records from ratings and JSONL files, the counts per source, the honest split across versions, the
job's preference files and adapter versions: real SQLite and the starter model's real tokenizer, nothing trained."""

import json

import pytest
from sqlalchemy import select

from app.core.library.registry import default_model
from app.core.storage import conversations as convs
from app.core.storage.models import Adapter, MessageStatus, TrainingJob
from app.core.training import jobs
from app.core.training.dataset import DatasetError, DatasetSpec, SourceCounts, build
from app.core.training.examples import Example, SourceResult, Turn, from_conversations
from app.core.training.preference_sources import from_feedback, from_jsonl_with_preferences
from app.core.training.preferences import PreferencePair, Unpaired, read_preferences
from app.core.training.split import share
from app.core.training.tokenizer import TrainingTokenizer


@pytest.fixture(scope="module")
def tokenizer(starter_path):
    return TrainingTokenizer.for_model(starter_path, "gguf")


def _reply(session, conv, parent, text, rating=0, correction=None, status=MessageStatus.COMPLETE):
    msg = convs.add_message(session, conv.id, role="assistant", content=text, parent_id=parent.id, status=status)
    if rating or correction:
        convs.set_feedback(session, msg.id, rating=rating, correction=correction)
    return msg


def _versions_chat(session, params=None):
    """One chat with every case: a correction, up / down versions of one prompt, a lone down, a lone up, and an
    unfinished thumbs-down."""
    conv = convs.create_conversation(session, system_prompt="Be brief.", params=params)
    u1 = convs.add_message(session, conv.id, role="user", content="Capital of France?")
    a1 = _reply(session, conv, u1, "Paris, I think, maybe.", rating=-1, correction="Paris.")
    u2 = convs.add_message(session, conv.id, role="user", content="Of Italy?", parent_id=a1.id)
    down_first = _reply(session, conv, u2, "Milan.", rating=-1)  # then regenerated twice
    up = _reply(session, conv, u2, "Rome.", rating=1)
    down_last = _reply(session, conv, u2, "Naples.", rating=-1)
    u3 = convs.add_message(session, conv.id, role="user", content="Of Spain?", parent_id=up.id)
    lone_down = _reply(session, conv, u3, "Lisbon.", rating=-1)
    u4 = convs.add_message(session, conv.id, role="user", content="Of Peru?", parent_id=lone_down.id)
    lone_up = _reply(session, conv, u4, "Lima.", rating=1)
    u5 = convs.add_message(session, conv.id, role="user", content="Of Chile?", parent_id=lone_up.id)
    cut_off = _reply(session, conv, u5, "Sant", rating=-1, status=MessageStatus.INTERRUPTED)
    return conv, dict(u1=u1, u2=u2, u3=u3, down_first=down_first, up=up, down_last=down_last, lone_down=lone_down,
                      lone_up=lone_up, cut_off=cut_off)


def test_ratings_give_pairs_lone_thumbs_down_and_problems(core):
    with core.db.session() as session:
        conv, m = _versions_chat(session)
        result = from_feedback(session)
        examples = from_conversations(session).examples
    pairs = [p for p in result.preferences if isinstance(p, PreferencePair)]
    lone = [p for p in result.preferences if isinstance(p, Unpaired)]
    assert [(p.chosen, p.rejected) for p in pairs] == [("Paris.", "Paris, I think, maybe."), ("Rome.", "Milan."),
                                                       ("Rome.", "Naples.")]
    correction = pairs[0]
    assert [(t.role, t.content) for t in correction.prompt] == [("system", "Be brief."), ("user", "Capital of France?")]
    assert correction.group == f"chat:{conv.id}:{m['u1'].id}" and correction.source == "conversations"
    # The later prompt carries the correction, as the example does: the dialogue the user wanted.
    assert [t.content for t in pairs[1].prompt] == ["Be brief.", "Capital of France?", "Paris.", "Of Italy?"]
    assert pairs[1].group == pairs[2].group == f"chat:{conv.id}:{m['u2'].id}"
    assert [(u.completion, u.desirable) for u in lone] == [("Lisbon.", False)]
    assert [p.where for p in result.problems] == [f"conversation {conv.id}, message {m['cut_off'].id}"]
    assert "interrupted" in result.problems[0].reason
    # Thumbs-up replies and corrections stay examples to imitate; only the lone one counts as a lone thumbs-up.
    targets = {e.turns[-1].content: e for e in examples}
    assert set(targets) == {"Paris.", "Rome.", "Lima."}
    assert [t for t, e in targets.items() if e.unpaired_up] == ["Lima."]
    assert targets["Rome."].group == pairs[1].group


def test_each_thumbs_down_version_is_paired_with_the_nearest_thumbs_up_version(core):
    with core.db.session() as session:
        conv = convs.create_conversation(session)
        u = convs.add_message(session, conv.id, role="user", content="A color?")
        texts = [("Red.", -1), ("Blue.", 1), ("Green.", -1), ("Pink.", -1), ("Gold.", 1), ("Grey.", -1)]
        for text, rating in texts:
            _reply(session, conv, u, text, rating=rating)
        pairs = from_feedback(session).preferences
        assert [(p.rejected, p.chosen) for p in pairs] == [("Red.", "Blue."), ("Green.", "Blue."), ("Pink.", "Gold."),
                                                           ("Grey.", "Gold.")], "one pair per thumbs-down version"
        only_corrections = from_feedback(session, min_rating=2)
        assert not only_corrections.preferences and not only_corrections.problems


def test_api_exchanges_are_a_source_of_their_own(core):
    with core.db.session() as session:
        _versions_chat(session, params={"source": "api"})
        assert not from_feedback(session).preferences
        result = from_feedback(session, api=True)
    assert {p.source for p in result.preferences} == {"API exchanges"}
    assert all(p.group.startswith("api:") for p in result.preferences)


def _write(path, records):
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in records) + "\n", encoding="utf-8")
    return path


def test_jsonl_preference_lines_and_their_problems(tmp_path):
    chat = [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "Hi"}]
    lines = [
        {"prompt": "2+2?", "chosen": "4", "rejected": "5"},                                        # 1 pair, text
        {"prompt": chat, "chosen": [{"role": "assistant", "content": "Hello!"}],
         "rejected": [{"role": "assistant", "content": "Go away."}]},                              # 2 pair, messages
        {"chosen": [*chat, {"role": "assistant", "content": "Hey."}],
         "rejected": [*chat, {"role": "assistant", "content": "No."}]},                            # 3 implicit prompt
        {"prompt": "Joke?", "completion": "Why did the chicken...", "label": True},                # 4 KTO good
        {"prompt": "Joke?", "completion": "No.", "label": False},                                  # 5 KTO bad
        {"messages": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}]},  # 6 an example
        {"prompt": "x", "chosen": "same", "rejected": "same"},                                     # 7 nothing preferred
        {"prompt": "x", "chosen": "a"},                                                            # 8 no rejected
        {"prompt": "x", "completion": "a", "label": "yes"},                                        # 9 label not bool
        {"prompt": "", "chosen": "a", "rejected": "b"},                                            # 10 empty prompt
        {"prompt": "x", "chosen": [{"role": "user", "content": "a"}], "rejected": "b"},            # 11 not assistant
        {"prompt": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}],
         "chosen": "a", "rejected": "b"},                                                          # 12 ends with reply
        {"chosen": [{"role": "user", "content": "u"}, {"role": "assistant", "content": "a"}],
         "rejected": [{"role": "user", "content": "v"}, {"role": "assistant", "content": "b"}]},  # 13 prompts differ
        {"text": "plain"},                                                                         # 14 unknown
    ]
    result = from_jsonl_with_preferences(_write(tmp_path / "prefs.jsonl", lines))
    pairs = [p for p in result.preferences if isinstance(p, PreferencePair)]
    assert [(p.chosen, p.rejected, p.origin) for p in pairs] == [
        ("4", "5", "prefs.jsonl:1"), ("Hello!", "Go away.", "prefs.jsonl:2"), ("Hey.", "No.", "prefs.jsonl:3")]
    assert [(t.role, t.content) for t in pairs[1].prompt] == [("system", "Be kind."), ("user", "Hi")]
    assert pairs[1].prompt == pairs[2].prompt and pairs[1].group == pairs[2].group != pairs[0].group
    assert [(u.completion, u.desirable) for u in result.preferences if isinstance(u, Unpaired)] == [("No.", False)]
    good, example = result.examples
    assert good.unpaired_up and good.turns[-1] == Turn("assistant", "Why did the chicken...", True)
    assert good.split_group() == result.preferences[-1].group, "one prompt, one group, whatever the line's kind"
    assert not example.unpaired_up and example.origin == "prefs.jsonl:6"
    where = {p.where: p.reason for p in result.problems}
    assert sorted(where, key=lambda w: int(w.split(":")[1])) == [f"prefs.jsonl:{n}" for n in range(7, 15)]
    assert "the same reply" in where["prefs.jsonl:7"]
    assert "`rejected`" in where["prefs.jsonl:8"]
    assert "`label`" in where["prefs.jsonl:9"]
    assert "`prompt` is empty" in where["prefs.jsonl:10"]
    assert "one assistant message" in where["prefs.jsonl:11"]
    assert "end with a user message" in where["prefs.jsonl:12"]
    assert "differ before their last message" in where["prefs.jsonl:13"]
    assert "unknown format" in where["prefs.jsonl:14"] and "`chosen`" in where["prefs.jsonl:14"]


def test_the_build_counts_each_source_and_says_so(core, tokenizer, tmp_path):
    jsonl = _write(tmp_path / "prefs.jsonl", [
        {"prompt": "2+2?", "chosen": "4", "rejected": "5"},
        {"prompt": "2+2?", "chosen": "4", "rejected": "5"},  # a duplicate
        {"prompt": "Joke?", "completion": "No.", "label": False},
        {"prompt": "Hi?", "completion": "Hello!", "label": True}])
    with core.db.session() as session:
        _versions_chat(session)
        built = build(DatasetSpec(jsonl_files=[str(jsonl)]), tokenizer, session)
    assert built.counts == {"conversations": SourceCounts(sft=3, pairs=3, unpaired_up=1, unpaired_down=1),
                            "prefs.jsonl": SourceCounts(sft=1, pairs=1, unpaired_up=1, unpaired_down=1)}
    assert built.duplicates == 1
    assert len(built.train_prefs) + len(built.eval_prefs) == 6
    summary = built.summary()
    assert "4 preference pairs" in summary and "2 thumbs-down replies" in summary, summary
    for item in built.train_pref_items + built.eval_pref_items:  # encoded with the reply's tokens learned
        sequences = (item.encoded.chosen, item.encoded.rejected) if hasattr(item.encoded, "chosen") else (
            item.encoded.encoded,)
        assert all(s.trained > 0 for s in sequences)
    shape = jobs.data_shape(built)  # what the recipe sizes the job by: a lone thumbs-up is an example, not a pref
    train = built.train_pref_items
    assert shape.pairs == sum(isinstance(p.record, PreferencePair) for p in train)
    assert shape.unpaired == sum(isinstance(p.record, Unpaired) and not p.record.desirable for p in train)
    assert shape.examples == len(built.train)


def test_preferences_alone_are_a_dataset_and_nothing_at_all_is_a_clear_error(tokenizer, tmp_path):
    jsonl = _write(tmp_path / "only.jsonl", [{"prompt": f"Q{i}?", "chosen": f"A{i}.", "rejected": f"No{i}."}
                                             for i in range(3)])
    built = build(DatasetSpec(conversations=False, jsonl_files=[str(jsonl)]), tokenizer)
    assert not built.items and built.pair_count() == 3
    assert "preferences only" in built.summary()
    with pytest.raises(DatasetError, match="thumbs down") as error:
        build(DatasetSpec(conversations=False), tokenizer)
    assert "regenerate" in str(error.value)


def _pair_source(n: int, start: int = 0) -> SourceResult:
    """n prompts, each with an example to imitate and a pair, as a rated chat gives them."""
    examples, prefs = [], []
    for i in range(start, start + n):
        prompt = (Turn("user", f"Question {i}?"),)
        group = f"chat:1:{i}"
        examples.append(Example((*prompt, Turn("assistant", f"Good {i}.", True)), "conversations", f"m{i}", group))
        prefs.append(PreferencePair(prompt, f"Good {i}.", f"Bad {i}.", "conversations", f"m{i}", group))
    return SourceResult(examples, [], prefs)


def _sides(built):
    train = {i.example.split_group() for i in built.train} | {p.group for p in built.train_prefs}
    held = {i.example.split_group() for i in built.eval} | {p.group for p in built.eval_prefs}
    return train, held


def test_the_split_is_per_prompt_and_new_feedback_never_moves_a_held_out_prompt_into_training(tokenizer):
    spec = DatasetSpec(conversations=False, eval_fraction=0.2, seed=3)
    v1 = build(spec, tokenizer, source=_pair_source(40))
    v2 = build(spec, tokenizer, source=_pair_source(70))  # v1's feedback and more
    train1, held1 = _sides(v1)
    train2, held2 = _sides(v2)
    assert not train1 & held1 and not train2 & held2, "every record of a prompt lands on one side"
    assert held1 and not held1 & train2, "no prompt v1 held out is trained on in v2"
    assert held1 <= held2
    assert {g for g in train1 | held1 if share(3, g) < 0.2} <= held1, "the hash, not a shuffle, decides"


def test_enough_pairs_are_held_out_and_a_top_up_stays_held_out_in_later_versions(core, tokenizer):
    spec = DatasetSpec(conversations=False, eval_fraction=0.01, seed=1)  # the hash alone holds out nothing here
    small = build(spec, tokenizer, source=_pair_source(7))
    assert small.eval_is_train and not small.eval_prefs and small.pair_count() == 7, "too few: all are trained on"
    v1 = build(spec, tokenizer, source=_pair_source(8))
    assert v1.pair_count(held_out=True) >= 2, "a useful share of pairs is held out once there are 8"
    with core.db.session() as session:
        base = default_model(session)
        jobs.create_job(session, base, {"max_steps": 3}, spec, v1)
    _, held1 = _sides(v1)
    # With more feedback, prompts whose hash falls lower take the top-up's place ...
    without_history, _ = _sides(build(spec, tokenizer, source=_pair_source(40), held_before=()))
    assert held1 & without_history
    # ... but the job kept what it held out, and later versions keep those prompts out of training.
    with core.db.session() as session:
        v2 = build(spec, tokenizer, session, source=_pair_source(40))
    train2, held2 = _sides(v2)
    assert not held1 & train2 and held1 <= held2


def test_the_job_writes_its_preference_files_and_records_the_counts(core, tokenizer):
    spec = DatasetSpec(conversations=False, eval_fraction=0.3, seed=5)
    with core.db.session() as session:
        base = default_model(session)
        built = build(spec, tokenizer, session, source=_pair_source(12))
        ref = jobs.create_job(session, base, {"max_steps": 3, "seed": 5}, spec, built, assistant="Pirate")
        row = session.get(TrainingJob, ref.id)
        assert row.assistant == "Pirate"
        dataset = row.dataset
    job = json.loads((ref.run_dir / "job.json").read_text())
    assert (job["prefs_file"], job["eval_prefs_file"]) == ("train_prefs.jsonl", "eval_prefs.jsonl")
    assert read_preferences(ref.run_dir / job["prefs_file"]) == built.train_prefs
    assert read_preferences(ref.run_dir / job["eval_prefs_file"]) == built.eval_prefs
    assert built.eval_prefs, "some pairs held out"
    assert dataset["pairs"] == 12 and dataset["eval_pairs"] == built.pair_count(held_out=True)
    assert dataset["counts"]["conversations"]["pairs"] == 12
    assert set(dataset["held_out"]) == built.held_out and "recipe_note" in dataset


def test_an_objective_without_preferences_refuses_a_dataset_of_preferences_only(core, tokenizer, tmp_path):
    jsonl = _write(tmp_path / "only.jsonl", [{"prompt": "Q?", "chosen": "A.", "rejected": "No."}])
    spec = DatasetSpec(conversations=False, jsonl_files=[str(jsonl)])
    built = build(spec, tokenizer)
    with core.db.session() as session:
        base = default_model(session)
        with pytest.raises(DatasetError, match="only preferences"):
            jobs.create_job(session, base, {"objective": "sft"}, spec, built)


def _finish(session, job_id, **figures):
    jobs.apply_event(session, job_id, {"event": "started", "total_steps": 3})
    jobs.apply_event(session, job_id, {"event": "done", "adapter_dir": "/nowhere/adapter", "gguf_adapter": None,
                                       "eval_loss_before": 2.0, "eval_loss_after": 1.0, **figures})
    return session.scalar(select(Adapter).where(Adapter.job_id == job_id))


def test_finished_jobs_become_numbered_versions_with_their_preference_figures(core, tokenizer):
    spec = DatasetSpec(conversations=False)
    built = build(spec, tokenizer, source=_pair_source(4))
    figures = dict(pref_pairs=6, pref_accuracy_before=0.5, pref_accuracy_after=0.83, pref_margin_before=0.01,
                   pref_margin_after=1.4)
    with core.db.session() as session:
        base = default_model(session)
        first = jobs.create_job(session, base, {"max_steps": 3}, spec, built, assistant="Pirate")
        second = jobs.create_job(session, base, {"max_steps": 3}, spec, built, assistant="Pirate")
        plain = jobs.create_job(session, base, {"max_steps": 3}, spec, built, name="Just a job")
        v1 = _finish(session, first.id)
        v2 = _finish(session, second.id, **figures)
        other = _finish(session, plain.id)
        assert (v1.name, v1.assistant, v1.version) == ("Pirate v1", "Pirate", 1)
        assert (v2.name, v2.assistant, v2.version) == ("Pirate v2", "Pirate", 2)
        assert {k: getattr(v2, k) for k in figures} == figures
        assert v1.pref_pairs is None and v1.pref_accuracy_after is None
        assert (other.name, other.assistant, other.version) == ("Just a job", "Just a job", 1)
        assert _finish(session, second.id).id == v2.id, "a done event replayed registers nothing new"


def test_an_unfinished_or_empty_reply_is_never_the_worse_reply_of_a_pair(core):
    with core.db.session() as session:
        conv = convs.create_conversation(session)
        u1 = convs.add_message(session, conv.id, role="user", content="Tell me a story.")
        cut = _reply(session, conv, u1, "Once upon", rating=-1, correction="Once upon a time, the end.",
                     status=MessageStatus.INTERRUPTED)
        u2 = convs.add_message(session, conv.id, role="user", content="Another?", parent_id=cut.id)
        empty = _reply(session, conv, u2, "  ", rating=-1)
        u3 = convs.add_message(session, conv.id, role="user", content="Once more?", parent_id=cut.id)
        liked = _reply(session, conv, u3, "The end.", rating=1)
        disliked = _reply(session, conv, u3, "The end.", rating=-1)  # the same text, rated both ways
        result = from_feedback(session)
        examples = from_conversations(session).examples
    assert not result.preferences
    reasons = {p.where: p.reason for p in result.problems}
    assert "was interrupted" in reasons[f"conversation {conv.id}, message {cut.id}"]
    assert "correction is still learned" in reasons[f"conversation {conv.id}, message {cut.id}"]
    assert "empty" in reasons[f"conversation {conv.id}, message {empty.id}"]
    assert f"rated up (message {liked.id})" in reasons[f"conversation {conv.id}, message {disliked.id}"]
    assert [e.turns[-1].content for e in examples] == ["Once upon a time, the end.", "The end."]


def test_the_export_carries_the_preferences_and_imports_back_the_same(core, tokenizer, tmp_path):
    with core.db.session() as session:
        _versions_chat(session)
        built = build(DatasetSpec(), tokenizer, session)
    out = tmp_path / "export.jsonl"
    assert built.write_jsonl(out) == len(built.items) + len(built.train_prefs) + len(built.eval_prefs)
    back = from_jsonl_with_preferences(out)
    assert not back.problems
    assert {e.key() for e in back.examples} == {i.example.key() for i in built.items}

    def texts(records):
        return sorted((type(r).__name__, r.prompt, getattr(r, "chosen", None), getattr(r, "rejected", None),
                       getattr(r, "completion", None)) for r in records)

    assert texts(back.preferences) == texts(built.train_prefs + built.eval_prefs) and back.preferences
