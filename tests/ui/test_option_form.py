"""The form built from declared options: values round-trip, one value can be shown alone, text can span lines."""

from PySide6.QtWidgets import QLineEdit, QPlainTextEdit

from app.core.options import Option
from app.ui.option_form import OptionForm

OPTIONS = (
    Option("count", "Count", int, 3, "a count", 1, 10, 1),
    Option("prompt", "Prompt", str, "", "free text"),
    Option("stops", "Stops", list, [], "one per line"),
)


def test_values_round_trip_and_showing_them_emits_nothing(qtbot):
    form = OptionForm(OPTIONS)
    qtbot.addWidget(form)
    changes = []
    form.changed.connect(lambda: changes.append(1))
    values = {"count": 7, "prompt": "be brief", "stops": ["###", "User:"]}
    form.set_values(values)
    assert form.values() == values and changes == []
    form.editors["count"].setValue(8)  # a person's edit is announced
    assert changes and form.values()["count"] == 8


def test_set_value_shows_one_value_and_keeps_the_others(qtbot):
    form = OptionForm(OPTIONS)
    qtbot.addWidget(form)
    form.set_values({"count": 5, "prompt": "a", "stops": ["x"]})
    form.set_value("prompt", "b")
    assert form.values() == {"count": 5, "prompt": "b", "stops": ["x"]}


def test_multiline_text_keeps_its_lines(qtbot):
    form = OptionForm(OPTIONS, multiline=("prompt",))
    qtbot.addWidget(form)
    assert isinstance(form.editors["prompt"], QPlainTextEdit)
    assert isinstance(OptionForm(OPTIONS).editors["prompt"], QLineEdit)  # as before, unless asked
    form.set_values({"prompt": "line one\nline two", "stops": ["a", "b"]})
    assert form.editors["prompt"].toPlainText() == "line one\nline two"
    assert form.values()["prompt"] == "line one\nline two" and form.values()["stops"] == ["a", "b"]
