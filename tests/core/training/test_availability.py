"""Whether this install can train is known before a job starts, with the exact command that fixes it."""

import sys
from pathlib import Path

from app.core.training import availability


def test_installed_packages_are_found_without_being_imported():
    assert "sqlalchemy" not in availability.missing_packages(("sqlalchemy",))
    before = set(sys.modules)
    assert availability.missing_packages(("json", "hearth_no_such_package_xyz")) == ("hearth_no_such_package_xyz",)
    assert "hearth_no_such_package_xyz" not in set(sys.modules) - before


def test_a_missing_extra_is_one_line_with_the_install_command(monkeypatch):
    monkeypatch.setattr(availability, "TRAINING_PACKAGES", ("torch", "hearth_no_such_package_xyz"))
    support = availability.training_support()
    assert not support.ready and support.missing == ("hearth_no_such_package_xyz",)
    message = support.message()
    assert "\n" not in message and "hearth_no_such_package_xyz" in message and "[train]" in message
    assert support.install_command in message
    # The tests run from an editable install of this checkout: the command installs the extra from it, into the
    # Python running Hearth.
    checkout = Path(availability.__file__).resolve().parents[3]
    assert support.install_command == f"{sys.executable} -m pip install -e '{checkout}[train]'"


def test_the_command_follows_how_hearth_was_installed(monkeypatch):
    monkeypatch.setattr(availability, "_source_folder", lambda: None)
    assert availability.install_command().endswith("-m pip install 'hearth[train]'")
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    support = availability.TrainingSupport(("torch",), availability.install_command())
    assert support.install_command is None and "not part of this build" in support.message()


def test_nothing_missing_says_nothing():
    support = availability.TrainingSupport((), None)
    assert support.ready and support.message() == ""
