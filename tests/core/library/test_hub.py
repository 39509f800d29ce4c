"""The hub client against a hub served on 127.0.0.1: search, file listings, and errors that say what to do, fast."""

from __future__ import annotations

import time

import pytest
from huggingface_hub import constants

from app.bench.local_hub import LocalHub
from app.core.library import hub
from app.core.library.hub import HubError
from tests.helpers.hub import closed_port, go_online


@pytest.fixture
def local_hub(monkeypatch):
    repos = {
        "hearth-test/Tiny-GGUF": {
            "tiny.Q4_K_M.gguf": b"G" * 3000,
            "tiny-IQ2_XS.gguf": b"I" * 2000,
            "tiny.bf16.gguf": b"B" * 5000,
            "README.md": b"# tiny\n",
        },
        "hearth-test/tiny-safetensors": {"config.json": b"{}", "model.safetensors": b"S" * 4000},
        "someone/unrelated": {"a.gguf": b"x"},
    }
    with LocalHub(repos) as served:
        go_online(monkeypatch, served.endpoint)
        yield served


def test_search_finds_matching_repos_with_counts_and_gguf_flag(local_hub):
    hits = hub.search_models("TINY", limit=10)
    assert {h.id for h in hits} == {"hearth-test/Tiny-GGUF", "hearth-test/tiny-safetensors"}
    by_id = {h.id: h for h in hits}
    assert by_id["hearth-test/Tiny-GGUF"].has_gguf and "gguf" in by_id["hearth-test/Tiny-GGUF"].tags
    assert not by_id["hearth-test/tiny-safetensors"].has_gguf
    assert by_id["hearth-test/Tiny-GGUF"].last_modified.year == 2025
    assert [h.id for h in hub.search_models("tiny", gguf_only=True)] == ["hearth-test/Tiny-GGUF"]
    assert len(hub.search_models("tiny", limit=1)) == 1


def test_listing_gives_commit_sizes_hashes_and_quantisation(local_hub):
    listing = hub.repo_files("hearth-test/Tiny-GGUF")
    assert listing.revision == local_hub.commit("hearth-test/Tiny-GGUF")
    q4 = listing.file("tiny.Q4_K_M.gguf")
    expected_sha = local_hub.sha256("hearth-test/Tiny-GGUF", "tiny.Q4_K_M.gguf")
    assert (q4.size, q4.sha256, q4.quant) == (3000, expected_sha, "Q4_K_M")
    assert {f.quant for f in listing.gguf_files} == {"Q4_K_M", "IQ2_XS", "BF16"}
    readme = listing.file("README.md")
    assert readme.sha256 is None and readme.quant is None and readme.size == 7
    # Pinned: asking for the commit itself gives the same listing.
    assert hub.repo_files("hearth-test/Tiny-GGUF", revision=listing.revision).files == listing.files


@pytest.mark.parametrize(
    ("access", "kind", "words"),
    [
        ("missing", "not_found", "no model repository named hearth-test/Tiny-GGUF"),
        ("unauthorized", "unauthorized", "hf auth login"),
    ],
)
def test_missing_and_unauthorised_repos_say_so_at_once(local_hub, access, kind, words):
    local_hub.set_access("hearth-test/Tiny-GGUF", access)
    started = time.perf_counter()
    with pytest.raises(HubError) as caught:
        hub.repo_files("hearth-test/Tiny-GGUF")
    assert time.perf_counter() - started < 5  # no retries with back-off
    assert caught.value.kind == kind
    assert words in caught.value.message


def test_gated_repo_lists_but_its_files_are_refused_with_what_to_do(local_hub):
    local_hub.set_access("hearth-test/Tiny-GGUF", "gated")
    listing = hub.repo_files("hearth-test/Tiny-GGUF")
    assert listing.gated
    with pytest.raises(HubError) as caught:
        hub.check_file("hearth-test/Tiny-GGUF", "tiny.Q4_K_M.gguf", listing.revision)
    assert caught.value.kind == "gated"
    assert "accept" in caught.value.message and "hearth-test/Tiny-GGUF" in caught.value.message


def test_unknown_revision_and_file_are_not_found(local_hub):
    with pytest.raises(HubError, match="no branch, tag or commit called v9") as caught:
        hub.repo_files("hearth-test/Tiny-GGUF", revision="v9")
    assert caught.value.kind == "not_found"
    with pytest.raises(HubError, match="no file named nope.gguf"):
        hub.check_file("hearth-test/Tiny-GGUF", "nope.gguf", "main")
    with pytest.raises(HubError, match="owner/name"):
        hub.repo_files("not a/valid//name")


def test_unreachable_hub_is_reported_offline_within_seconds(monkeypatch):
    go_online(monkeypatch, f"http://127.0.0.1:{closed_port()}")
    calls = (lambda: hub.search_models("x"), lambda: hub.repo_files("a/b"), lambda: hub.check_file("a/b", "f", "main"))
    for call in calls:
        started = time.perf_counter()
        with pytest.raises(HubError) as caught:
            call()
        assert time.perf_counter() - started < 5
        assert caught.value.kind == "offline"
        assert "offline" in caught.value.message
        assert "models already on this computer keep working" in caught.value.message


def test_offline_mode_is_named_as_the_reason(monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # as conftest leaves it for every other test
    with pytest.raises(HubError, match="HF_HUB_OFFLINE") as caught:
        hub.repo_files("a/b")
    assert caught.value.kind == "offline"
