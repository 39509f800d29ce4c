import pytest

from app.core.training.dataset import DatasetError, DatasetSpec, build
from app.core.training.examples import Example, SourceResult, Turn, from_jsonl
from app.core.training.tokenizer import IGNORE, TrainingTokenizer


@pytest.fixture(scope="module")
def tokenizer(starter_path):
    return TrainingTokenizer.for_model(starter_path, "gguf")


def _example(question: str, answer: str, origin: str = "x") -> Example:
    return Example((Turn("user", question), Turn("assistant", answer, True)), "test", origin)


def _decode(tokenizer, ids):
    return tokenizer._keep.detokenize(ids, special=True).decode()


def test_only_the_replies_tokens_are_learned_including_the_end_of_turn(tokenizer):
    turns = (Turn("system", "Be brief."), Turn("user", "Hi"), Turn("assistant", "Hello there.", False),
             Turn("user", "Name?"), Turn("assistant", "I am Hearth.", True))
    encoded = tokenizer.encode_turns(turns)
    learned = [t for t, label in zip(encoded.input_ids, encoded.labels, strict=True) if label != IGNORE]
    assert _decode(tokenizer, learned) == "I am Hearth.<|im_end|>\n"
    assert _decode(tokenizer, encoded.input_ids).startswith("<|im_start|>system\nBe brief.<|im_end|>")
    assert all(label in (IGNORE, token) for token, label in zip(encoded.input_ids, encoded.labels, strict=True))


def test_duplicates_go_the_split_is_fixed_by_the_seed_and_small_sets_evaluate_on_training(tokenizer):
    examples = [_example(f"Question {i}?", f"Answer {i}.", f"f:{i}") for i in range(20)]
    source = SourceResult(examples + examples[:3], [])
    spec = DatasetSpec(conversations=False, eval_fraction=0.2, seed=7)
    first, again = build(spec, tokenizer, source=source), build(spec, tokenizer, source=source)
    assert first.duplicates == 3
    assert len(first.train) + len(first.eval) == 20 and len(first.eval) >= 4  # at least the fraction asks for
    assert not {i.example.key() for i in first.train} & {i.example.key() for i in first.eval}
    assert [i.example.origin for i in first.eval] == [i.example.origin for i in again.eval]
    other = build(DatasetSpec(conversations=False, eval_fraction=0.2, seed=8), tokenizer, source=source)
    assert [i.example.origin for i in other.eval] != [i.example.origin for i in first.eval]
    small = build(spec, tokenizer, source=SourceResult(examples[:5], []))
    assert small.eval_is_train and len(small.train) == 5 and "measured on the training examples" in small.summary()


def test_long_examples_are_cut_or_dropped_as_chosen_and_counted(tokenizer):
    long_answer = " ".join(["words"] * 200)
    examples = [_example("Short?", "Yes."), _example("Long?", long_answer, "long")]
    cut = build(DatasetSpec(conversations=False, max_length=64, overflow="cut"), tokenizer,
                source=SourceResult(examples, []))
    assert cut.cut == 1 and max(cut.lengths()) == 64 and "1 cut to the maximum length" in cut.summary()
    dropped = build(DatasetSpec(conversations=False, max_length=64, overflow="drop"), tokenizer,
                    source=SourceResult(examples, []))
    assert dropped.dropped == 1 and len(dropped.items) == 1 and "1 left out as too long" in dropped.summary()
    long_prompt = [_example(" ".join(["context"] * 200), "Answer.", "late")]
    with pytest.raises(DatasetError) as error:
        build(DatasetSpec(conversations=False, max_length=64), tokenizer, source=SourceResult(long_prompt, []))
    assert "starts after token 64" in str(error.value.problems[0])


def test_an_empty_result_is_a_clear_error_that_lists_the_problems(tokenizer, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"oops": 1}\n')
    spec = DatasetSpec(conversations=False, jsonl_files=[str(bad)])
    with pytest.raises(DatasetError) as error:
        build(spec, tokenizer)
    assert "bad.jsonl:1" in str(error.value) and error.value.problems
    with pytest.raises(DatasetError, match="Rate some replies"):
        build(DatasetSpec(conversations=False), tokenizer)


def test_export_is_openai_jsonl_that_reads_back_the_same(tokenizer, tmp_path):
    turns = (Turn("user", "Hi"), Turn("assistant", "Old reply", False), Turn("user", "Again"),
             Turn("assistant", "New reply", True))
    built = build(DatasetSpec(conversations=False), tokenizer,
                  source=SourceResult([Example(turns, "conversations", "c1"), _example("Q?", "A.")], []))
    out = tmp_path / "export.jsonl"
    assert built.write_jsonl(out) == 2
    back = from_jsonl(out)
    assert not back.problems
    assert {e.key() for e in back.examples} == {i.example.key() for i in built.items}
    assert '"weight": 0' in out.read_text() and '"weight": 1' in out.read_text()
    hist = built.histogram(bins=4)
    assert sum(count for _, _, count in hist) == 2
