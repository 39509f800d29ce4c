"""`hearth --help` lists what a user can run, each with help; internal sub-commands stay out of sight."""

import argparse

from app import __version__
from app.cli import _parser
from tests.helpers.procs import hearth

INTERNAL = {"train-worker", "window-probe", "llama-layout-probe"}


def _sub_parsers(parser: argparse.ArgumentParser, path=()):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                if name not in INTERNAL:
                    yield (*path, name), child
                    yield from _sub_parsers(child, (*path, name))


def test_every_option_of_every_command_says_what_it_does():
    missing = []
    for path, parser in [((), _parser()), *_sub_parsers(_parser())]:
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            if not action.help or action.help == argparse.SUPPRESS:
                missing.append(f"hearth {' '.join(path)} {'/'.join(action.option_strings) or action.dest}")
    assert missing == []


def test_the_help_lists_the_commands_and_hides_internal_ones(hearth_home):
    shown = hearth("--help", home=hearth_home)
    assert shown.returncode == 0
    assert "SUPPRESS" not in shown.stdout and not any(name in shown.stdout for name in INTERNAL)
    assert "chat" in shown.stdout and "models" in shown.stdout
    version = hearth("--version", home=hearth_home)
    assert version.returncode == 0 and version.stdout.strip() == f"hearth {__version__}"


def test_a_frozen_app_says_where_the_benchmarks_run(monkeypatch, capsys):
    import sys

    from app.cli import main

    monkeypatch.setattr(sys, "frozen", True, raising=False)
    assert main(["bench", "chat"]) == 1
    assert "source checkout" in capsys.readouterr().err
