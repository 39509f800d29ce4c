"""Downloads through the real huggingface_hub client from a hub on 127.0.0.1: resume after drops, pause, cancel,
a kill mid-way, a damaged byte, a full disk, and registration of what arrives."""

from __future__ import annotations

import errno
import json
import os
import random
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from app import paths
from app.bench.local_hub import LocalHub
from app.core.library import download_transfer, downloads
from app.core.library.downloads import DownloadControl, create_download, resume_interrupted, run_download
from app.core.library.hub import HubError
from app.core.library.sample_gguf import write_tiny_gguf
from app.core.storage.models import Download, DownloadStatus, Model
from tests.helpers.hub import closed_port, go_online

MiB = 1024 * 1024
REPO = "hearth-test/Tiny-GGUF"
BIG = "tiny.Q4_K_M.gguf"
SMALL = "tiny.Q8_0.gguf"


def gguf_bytes(folder: Path, name: str, size: int, seed: int) -> bytes:
    """A valid GGUF header followed by `size` bytes of random tensor data (zeros would hide an off-by-one)."""
    path = write_tiny_gguf(folder / name, name=name, sparse_bytes=size)
    data = bytearray(path.read_bytes())
    data[-size:] = random.Random(seed).randbytes(size)
    return bytes(data)


@pytest.fixture(scope="module")
def contents(tmp_path_factory) -> dict[str, bytes]:
    folder = tmp_path_factory.mktemp("gguf")
    return {BIG: gguf_bytes(folder, BIG, 4 * MiB, 1), SMALL: gguf_bytes(folder, SMALL, MiB // 2, 2)}


@pytest.fixture
def local_hub(monkeypatch, contents):
    with LocalHub({REPO: {**contents, "README.md": b"# tiny\n"}}) as served:
        go_online(monkeypatch, served.endpoint)
        yield served


def row(db, download_id) -> Download:
    with db.session() as session:
        return session.get(Download, download_id)


def size_of(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def models(db) -> list[Model]:
    with db.session() as session:
        return list(session.scalars(select(Model)))


def test_download_is_pinned_verified_and_registered(db, local_hub, contents):
    download_id = create_download(db, REPO, BIG)
    created = row(db, download_id)
    assert created.status == DownloadStatus.QUEUED
    assert created.revision == local_hub.commit(REPO)
    assert created.sha256 == local_hub.sha256(REPO, BIG) and created.total_bytes == len(contents[BIG])
    dest = paths.models_dir() / "hearth-test__Tiny-GGUF" / BIG
    assert Path(created.dest_path) == dest

    seen = []
    info = run_download(db, download_id, on_progress=seen.append)

    assert info.status == DownloadStatus.DONE and info.error is None
    assert dest.read_bytes() == contents[BIG]
    assert not downloads.part_path(dest).exists()
    assert seen[-1].done == seen[-1].total == len(contents[BIG])
    [model] = models(db)
    assert info.model_id == model.id
    assert (model.source, model.repo_id, model.revision, model.hub_file) == ("hub", REPO, created.revision, BIG)
    assert model.sha256 == created.sha256 and Path(model.path) == dest.resolve()
    assert row(db, download_id).bytes_done == len(contents[BIG])
    # Asking again gives the same download, not a second copy.
    assert create_download(db, REPO, BIG) == download_id


def test_the_real_starter_gguf_downloads_and_registers(db, monkeypatch, starter_path):
    with LocalHub({"HuggingFaceTB/SmolLM2-135M-Instruct-GGUF": {starter_path.name: starter_path}}) as served:
        go_online(monkeypatch, served.endpoint)
        info = run_download(db, create_download(db, "HuggingFaceTB/SmolLM2-135M-Instruct-GGUF", starter_path.name))
    assert info.status == DownloadStatus.DONE, info.error
    [model] = models(db)
    assert model.format == "gguf" and model.info["architecture"] == "llama"
    assert model.size_bytes == starter_path.stat().st_size


def test_connection_dropped_at_several_offsets_resumes_to_an_identical_file(db, local_hub, contents):
    offsets = [MiB + 123, 2 * MiB + 1, 3 * MiB + 4567]
    local_hub.drop_after(REPO, BIG, *offsets)
    download_id = create_download(db, REPO, BIG)
    dest = Path(row(db, download_id).dest_path)
    for offset in offsets:
        info = run_download(db, download_id, auto_resumes=0)
        assert info.status == DownloadStatus.FAILED and info.error_kind == "offline" and info.can_resume
        assert "Press Resume" in info.error and "part is kept" in info.error
        assert downloads.part_path(dest).stat().st_size == offset == info.bytes_done
    assert run_download(db, download_id, auto_resumes=0).status == DownloadStatus.DONE
    assert dest.read_bytes() == contents[BIG]
    assert local_hub.range_starts(BIG) == [0, *offsets]


def test_a_dropped_connection_is_picked_up_within_the_same_run(db, local_hub, contents):
    local_hub.drop_after(REPO, BIG, 1_000_000, 3_000_000)
    info = run_download(db, create_download(db, REPO, BIG))
    assert info.status == DownloadStatus.DONE
    assert Path(info.dest_path).read_bytes() == contents[BIG]
    assert local_hub.range_starts(BIG) == [0, 1_000_000, 3_000_000]


CHILD = """
import sys
from app import paths
from app.core.storage.db import Database
from app.core.library.downloads import run_download
run_download(Database.open(paths.database_file()), int(sys.argv[1]))
"""


@pytest.mark.slow
def test_a_download_killed_mid_way_resumes_in_a_new_process(db, local_hub, contents, hearth_home):
    download_id = create_download(db, REPO, BIG)
    part = downloads.part_path(Path(row(db, download_id).dest_path))
    local_hub.throttle(2 * MiB)
    env = dict(os.environ, HEARTH_HOME=str(hearth_home), HF_HUB_OFFLINE="0", HF_ENDPOINT=local_hub.endpoint)
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(download_id)], env=env, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while size_of(part) < MiB and time.monotonic() < deadline and child.poll() is None:
            time.sleep(0.02)
        assert size_of(part) >= MiB, child.stderr.read() if child.poll() is not None else "no progress"
        assert row(db, download_id).status == DownloadStatus.DOWNLOADING
    finally:
        child.kill()
        child.wait()
    kept = size_of(part)
    assert 0 < kept < len(contents[BIG])

    assert resume_interrupted(db) == 1
    assert row(db, download_id).status == DownloadStatus.PAUSED
    local_hub.throttle(None)
    info = run_download(db, download_id)
    assert info.status == DownloadStatus.DONE
    assert Path(info.dest_path).read_bytes() == contents[BIG]
    assert local_hub.range_starts(BIG)[-1] == kept


def test_a_damaged_byte_is_caught_and_quarantined_not_registered(db, local_hub):
    local_hub.corrupt(REPO, BIG, 2_500_000)
    download_id = create_download(db, REPO, BIG)
    info = run_download(db, download_id)
    assert info.status == DownloadStatus.FAILED and info.error_kind == "checksum"
    expected = local_hub.sha256(REPO, BIG)
    assert expected[:12] in info.error and BIG in info.error and "not added to the library" in info.error
    [quarantined] = (paths.models_dir() / ".quarantine").iterdir()
    assert BIG in quarantined.name and expected[:12] not in quarantined.name
    assert not Path(info.dest_path).exists() and not downloads.part_path(Path(info.dest_path)).exists()
    assert models(db) == [] and info.model_id is None


def test_disk_space_is_checked_before_anything_is_written(db, local_hub, contents):
    with pytest.raises(HubError) as caught:
        create_download(db, REPO, BIG, free_space=lambda _path: 3 * MiB)
    assert caught.value.kind == "disk_full"
    assert "4.4 MB" in caught.value.message and "3.1 MB" in caught.value.message  # needed (with margin), free
    with db.session() as session:
        assert session.scalars(select(Download)).all() == []
    assert local_hub.range_starts(BIG) == []


def test_a_disk_that_fills_up_mid_way_fails_resumably(db, local_hub, contents, monkeypatch):
    download_id = create_download(db, REPO, BIG)
    real_open = open

    class QuotaFile:
        def __init__(self, f):
            self.f = f

        def write(self, data):
            if self.f.tell() + len(data) > 2 * MiB:
                raise OSError(errno.ENOSPC, "No space left on device")
            return self.f.write(data)

        def __getattr__(self, name):
            return getattr(self.f, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

    monkeypatch.setattr(download_transfer, "open", lambda *a, **k: QuotaFile(real_open(*a, **k)), raising=False)
    info = run_download(db, download_id)
    assert info.status == DownloadStatus.FAILED and info.error_kind == "disk_full" and info.can_resume
    assert "filled up" in info.error and "part is kept" in info.error
    part = downloads.part_path(Path(info.dest_path))
    assert 0 < info.bytes_done <= 2 * MiB and info.bytes_done == part.stat().st_size
    monkeypatch.undo()
    go_online(monkeypatch, local_hub.endpoint)
    assert run_download(db, download_id).status == DownloadStatus.DONE
    assert Path(info.dest_path).read_bytes() == contents[BIG]


def test_cancel_leaves_no_part_and_no_model(db, local_hub):
    download_id = create_download(db, REPO, BIG)
    local_hub.throttle(8 * MiB)
    control = DownloadControl()
    info = run_download(db, download_id, control, on_progress=lambda p: p.done >= MiB and control.cancel())
    assert info.status == DownloadStatus.CANCELLED
    assert not downloads.part_path(Path(info.dest_path)).exists() and not Path(info.dest_path).exists()
    assert models(db) == []


def test_pause_keeps_the_part_and_resume_continues_from_it(db, local_hub, contents):
    download_id = create_download(db, REPO, BIG)
    local_hub.throttle(2 * MiB)
    control = DownloadControl()
    reports = []
    worker = threading.Thread(target=lambda: run_download(db, download_id, control, reports.append))
    started = time.monotonic()
    worker.start()
    while not reports:
        time.sleep(0.01)
    # Running here: another start is refused and start-up recovery leaves it alone.
    with pytest.raises(RuntimeError, match="already being downloaded"):
        run_download(db, download_id)
    assert resume_interrupted(db) == 0
    while reports[-1].done < MiB:
        time.sleep(0.01)
    control.pause()  # from another thread, as the UI does
    worker.join(5)
    elapsed = time.monotonic() - started
    assert not worker.is_alive()
    paused = row(db, download_id)
    assert paused.status == DownloadStatus.PAUSED
    kept = size_of(downloads.part_path(Path(paused.dest_path)))
    assert 0 < kept < len(contents[BIG]) and paused.bytes_done == kept
    # At most about ten progress reports a second, with a speed and an ETA.
    assert len(reports) <= elapsed * 10 + 2
    assert reports[-1].speed_bps > MiB / 2 and reports[-1].eta_s > 0

    local_hub.throttle(None)
    info = run_download(db, download_id)
    assert info.status == DownloadStatus.DONE
    assert Path(info.dest_path).read_bytes() == contents[BIG]
    assert local_hub.range_starts(BIG) == [0, kept]


def test_gated_and_missing_files_are_refused_when_the_download_is_created(db, local_hub):
    with pytest.raises(HubError, match="no file named nope.gguf"):
        create_download(db, REPO, "nope.gguf")
    local_hub.set_access(REPO, "gated")
    with pytest.raises(HubError) as caught:
        create_download(db, REPO, BIG)
    assert caught.value.kind == "gated"
    with db.session() as session:
        assert session.scalars(select(Download)).all() == []


def test_offline_fails_fast_and_a_started_download_can_resume_later(db, local_hub, monkeypatch, contents):
    local_hub.drop_after(REPO, BIG, MiB)
    download_id = create_download(db, REPO, BIG)
    assert run_download(db, download_id, auto_resumes=0).status == DownloadStatus.FAILED
    go_online(monkeypatch, f"http://127.0.0.1:{closed_port()}")
    started = time.perf_counter()
    with pytest.raises(HubError) as caught:
        create_download(db, REPO, SMALL)
    assert caught.value.kind == "offline"
    info = run_download(db, download_id)
    assert time.perf_counter() - started < 5
    assert info.status == DownloadStatus.FAILED and info.error_kind == "offline" and "Resume" in info.error
    assert info.bytes_done == MiB
    go_online(monkeypatch, local_hub.endpoint)
    assert run_download(db, download_id).status == DownloadStatus.DONE
    assert Path(info.dest_path).read_bytes() == contents[BIG]


def test_list_and_delete(db, local_hub):
    first = create_download(db, REPO, SMALL)
    second = create_download(db, REPO, BIG)
    with db.session() as session:
        assert [d.id for d in downloads.list_downloads(session)] == [first, second]
    downloads.delete_download(db, second)
    with db.session() as session:
        assert [d.filename for d in downloads.list_downloads(session)] == [SMALL]


def safetensors_bytes(name: str, count: int, seed: int) -> bytes:
    header = json.dumps({name: {"dtype": "F32", "shape": [count], "data_offsets": [0, 4 * count]}}).encode()
    return struct.pack("<Q", len(header)) + header + random.Random(seed).randbytes(4 * count)


def test_a_model_folder_downloads_safetensors_only_and_registers_once(db, local_hub):
    config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 64,
              "num_attention_heads": 4, "num_hidden_layers": 2, "max_position_embeddings": 2048}  # fmt: skip
    files = {
        "config.json": json.dumps(config).encode(),
        "tokenizer.json": b'{"model": {}}',
        "tokenizer_config.json": b'{"chat_template": "{{ messages }}"}',
        "model-00001-of-00002.safetensors": safetensors_bytes("a", 300_000, 3),
        "model-00002-of-00002.safetensors": safetensors_bytes("b", 200_000, 4),
        "model.safetensors.index.json": b'{"weight_map": {}}',
        "pytorch_model.bin": b"pickle" * 1000,
        "README.md": b"# tiny hf",
        "onnx/model.onnx": b"onnx" * 100,
    }
    local_hub.add_repo("hearth-test/tiny-hf", files)
    ids = downloads.create_folder_download(db, "hearth-test/tiny-hf")
    assert downloads.create_folder_download(db, "hearth-test/tiny-hf") == ids
    with db.session() as session:
        planned = {d.filename for d in downloads.list_downloads(session) if d.id in ids}
    assert planned == {n for n in files if n.endswith((".json", ".safetensors"))}

    workers = [threading.Thread(target=run_download, args=(db, i)) for i in ids]  # one thread each, as the app does
    for w in workers:
        w.start()
    for w in workers:
        w.join(30)
    [model] = models(db)
    folder = paths.models_dir() / "hearth-test__tiny-hf"
    assert (model.format, Path(model.path), model.repo_id) == ("hf", folder.resolve(), "hearth-test/tiny-hf")
    assert model.info["shards"] == 2
    assert {row(db, i).status for i in ids} == {DownloadStatus.DONE}
    assert {row(db, i).model_id for i in ids} == {model.id}
    assert sorted(p.name for p in folder.iterdir()) == sorted(planned)


def test_a_repo_with_only_pickled_weights_is_refused(db, local_hub):
    local_hub.add_repo("hearth-test/pickles", {"config.json": b"{}", "pytorch_model.bin": b"x" * 100})
    with pytest.raises(HubError, match="no .safetensors weights") as caught:
        downloads.create_folder_download(db, "hearth-test/pickles")
    assert caught.value.kind == "not_found"


def test_clearing_a_cancelled_download_keeps_the_part_of_a_later_one_for_the_same_file(db, tmp_path):
    """Cancel, ask again, pause: the old cancelled row shares the destination but not the partial file."""
    dest = tmp_path / "model.gguf"
    with db.session() as session:
        old = Download(repo_id=REPO, revision="a" * 40, filename="model.gguf", dest_path=str(dest),
                       status=DownloadStatus.CANCELLED)
        new = Download(repo_id=REPO, revision="a" * 40, filename="model.gguf", dest_path=str(dest),
                       status=DownloadStatus.PAUSED, bytes_done=5, total_bytes=10)
        session.add_all([old, new])
        session.flush()
        old_id, new_id = old.id, new.id
    part = downloads.part_path(dest)
    part.write_bytes(b"12345")
    downloads.delete_download(db, old_id)
    assert part.read_bytes() == b"12345", "the paused download keeps what it has"
    downloads.delete_download(db, new_id)
    assert not part.exists(), "forgetting the unfinished one removes its part"
