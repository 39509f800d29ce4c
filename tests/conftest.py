"""Every test runs offscreen, offline, and with its own Hearth home folder."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["HF_HUB_OFFLINE"] = "1"

import pytest  # noqa: E402

from tests.helpers.fixtures import *  # noqa: E402,F401,F403


@pytest.fixture(autouse=True)
def hearth_home(tmp_path, monkeypatch):
    home = tmp_path / "hearth-home"
    monkeypatch.setenv("HEARTH_HOME", str(home))
    return home


@pytest.fixture(scope="session", autouse=True)
def shared_training_cache(tmp_path_factory):
    """Training tests share one dequantised copy of the starter model (making it takes ~20 s)."""
    path = tmp_path_factory.mktemp("hearth-cache")
    os.environ["HEARTH_CACHE"] = str(path)
    yield path
    os.environ.pop("HEARTH_CACHE", None)
