"""Planning a download is one decision: a double click, or two threads asking at once, give one download and a
clear "already downloading", while a file cancelled or removed earlier can still be fetched again."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import select

from app.bench.local_hub import LocalHub
from app.core.library import hub, registry
from app.core.library.downloads import DownloadControl, create_download, plan_download, run_download
from app.core.library.sample_gguf import write_tiny_gguf
from app.core.storage.models import Download, DownloadStatus
from tests.helpers.hub import go_online

REPO = "hearth-test/Tiny-GGUF"
FILE = "tiny.Q8_0.gguf"


@pytest.fixture
def local_hub(monkeypatch, tmp_path):
    gguf = write_tiny_gguf(tmp_path / FILE, name="tiny", sparse_bytes=2 * 1024 * 1024)
    with LocalHub({REPO: {FILE: gguf.read_bytes()}}) as served:
        go_online(monkeypatch, served.endpoint)
        yield served


def rows(db) -> list[Download]:
    with db.session() as session:
        return list(session.scalars(select(Download).order_by(Download.id)))


def test_two_plans_at_once_make_one_download(db, local_hub, monkeypatch):
    # Both plans reach the hub's access check before either has written anything: the moment where a double
    # click (or a second window) used to slip through.
    both_asked = threading.Barrier(2, timeout=10)
    real_check = hub.check_file

    def check_together(*args):
        both_asked.wait()
        return real_check(*args)

    monkeypatch.setattr(hub, "check_file", check_together)
    plans, errors = [], []

    def plan() -> None:
        try:
            plans.append(plan_download(db, REPO, FILE))
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=plan) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    [only] = rows(db)
    assert [p.ids for p in plans] == [(only.id,), (only.id,)]
    assert sorted(str(p.already) for p in plans) == ["None", "downloading"]  # one planned it, one was told


def test_asking_again_says_how_far_the_first_request_got(db, local_hub):
    first = plan_download(db, REPO, FILE)
    again = plan_download(db, REPO, FILE)
    assert first.already is None and first.notice is None
    assert again.ids == first.ids and again.already == "downloading"
    assert again.notice == f"{FILE} is already downloading, so it was not added again."
    assert run_download(db, first.ids[0]).status == DownloadStatus.DONE
    done = plan_download(db, REPO, FILE)
    assert done.ids == first.ids and done.already == "downloaded" and "already downloaded" in done.notice
    assert len(rows(db)) == 1


def test_a_cancelled_download_can_be_asked_for_again(db, local_hub):
    first = create_download(db, REPO, FILE)
    local_hub.throttle(1024 * 1024)
    control = DownloadControl()
    assert run_download(db, first, control, on_progress=lambda _p: control.cancel()).status == DownloadStatus.CANCELLED
    local_hub.throttle(None)
    again = plan_download(db, REPO, FILE)
    assert again.already is None and again.ids[0] != first
    info = run_download(db, again.ids[0])
    assert info.status == DownloadStatus.DONE and info.dest_path == rows(db)[0].dest_path


def test_a_file_removed_with_its_model_can_be_downloaded_again(db, local_hub):
    first = run_download(db, create_download(db, REPO, FILE))
    registry.remove_model(db, first.model_id, delete_files=True)
    assert not Path(first.dest_path).exists()
    again = plan_download(db, REPO, FILE)
    assert again.already is None and again.ids[0] != first.id
    info = run_download(db, again.ids[0])
    assert info.status == DownloadStatus.DONE and info.dest_path == first.dest_path and Path(info.dest_path).exists()
