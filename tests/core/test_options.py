import json
import logging

import pytest

from app.core.library.registry import default_model
from app.core.options import Option, resolve
from app.core.training.jobs import write_job_file
from app.core.training.options import job_options

FLAG = Option("flag", "Flag", bool, True, "A switch.")
COUNT = Option("count", "Count", int, 5, "How many.", 0, 100)
RATE = Option("rate", "Rate", float, 1e-4, "Step size.", 1e-6, 1e-2)
STOPS = Option("stops", "Stops", list, [], "One per line.")
MODE = Option("mode", "Mode", str, "a", "Which one.", choices=(("a", "A"), ("b", "B")))


@pytest.mark.parametrize("raw", ["false", "False", " OFF ", "0", "no", "", False, 0])
def test_words_for_off_turn_a_switch_off(raw):
    assert FLAG.coerce(raw) is False


@pytest.mark.parametrize("raw", ["true", "TRUE", "1", "yes", "on", True, 1])
def test_words_for_on_turn_a_switch_on(raw):
    assert FLAG.coerce(raw) is True


@pytest.mark.parametrize("raw", ["maybe", "2", 2, None, []])
def test_anything_else_for_a_switch_is_refused_naming_the_option_and_the_words(raw):
    with pytest.raises(ValueError) as caught:
        FLAG.coerce(raw)
    message = str(caught.value)
    assert "flag" in message and all(word in message for word in ("true", "yes", "on", "false", "no", "off"))


def test_numbers_from_json_and_from_text():
    assert COUNT.coerce("3.0") == 3 and COUNT.coerce(3.0) == 3 and COUNT.coerce(" 7 ") == 7
    assert type(COUNT.coerce("3.0")) is int
    assert COUNT.coerce(1000) == 100 and COUNT.coerce("-4") == 0  # out of range is clamped, as the form does
    assert RATE.coerce("1e-3") == 1e-3 and RATE.coerce(1) == 1e-2 and type(RATE.coerce(1)) is float
    for option, raw in ((COUNT, "3.5"), (COUNT, "three"), (COUNT, True), (COUNT, None),
                        (RATE, "fast"), (RATE, "nan"), (RATE, float("inf")), (RATE, False)):
        with pytest.raises(ValueError, match=option.key):
            option.coerce(raw)


def test_lists_and_choices():
    assert STOPS.coerce("User:\n\n###") == ["User:", "###"]
    assert STOPS.coerce(("a", "b")) == ["a", "b"]
    for raw in (5, {"a": 1}, None):
        with pytest.raises(ValueError, match="stops"):
            STOPS.coerce(raw)
    assert MODE.coerce("b") == "b"
    with pytest.raises(ValueError, match=r"mode.*a, b"):
        MODE.coerce("c")


def test_a_job_file_that_says_false_turns_the_option_off(core, tmp_path):
    options = job_options({"packing": "false", "group_by_length": "0", "epochs": "2.0", "learning_rate": "1e-3"})
    assert (options["packing"], options["group_by_length"], options["epochs"], options["learning_rate"]) == (
        False, False, 2, 1e-3)
    with core.db.session() as session:
        base = default_model(session)
    job = json.loads(write_job_file(tmp_path, job_id=None, base=base, options={"packing": "off"}).read_text())
    assert job["options"]["packing"] is False, "the worker reads job.json as written"
    with pytest.raises(ValueError, match="packing"):
        job_options({"packing": "maybe"})


def test_a_bad_stored_setting_falls_back_to_its_default_and_says_so_in_the_log(caplog):
    with caplog.at_level(logging.WARNING, logger="app.core.options"):
        values = resolve((FLAG, COUNT), {"flag": "perhaps", "count": "7"})
    assert values == {"flag": True, "count": 7}
    assert "flag" in caplog.text and "perhaps" in caplog.text
