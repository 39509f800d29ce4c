import json
import os
import subprocess
import sys
import time

import psutil
import pytest

from app.core.hardware import gpu
from app.core.hardware.sampler import HardwareSampler
from tests.helpers.waiting import wait_for


def _burn(cpu_seconds: float) -> None:
    """Spend this much of this process's own CPU time (not wall time, which a busy machine stretches)."""
    end = time.process_time() + cpu_seconds
    x = 0
    while time.process_time() < end:
        x += 1


def test_a_sample_describes_this_machine_and_this_process(tmp_path):
    sampler = HardwareSampler([tmp_path])
    readings = []

    def burnt_and_seen() -> bool:
        _burn(0.3)
        readings.append(sampler.sample())
        return readings[-1].processes[0].cpu_percent > 30

    assert wait_for(burnt_and_seen, timeout=20, interval=0)
    sample = readings[-1]
    assert len(sample.cpu.per_core) == psutil.cpu_count()
    assert all(0.0 <= c <= 100.0 for c in sample.cpu.per_core)
    assert sample.cpu.percent == pytest.approx(sum(sample.cpu.per_core) / len(sample.cpu.per_core))
    assert sample.memory.total == psutil.virtual_memory().total
    assert sample.memory.used == sample.memory.total - sample.memory.available
    own = sample.processes[0]
    assert (own.pid, own.label) == (os.getpid(), "Hearth")
    assert own.rss > 10 * 1024**2
    assert own.cpu_percent > 30, "burning a core for 0.3 s must show in the process's own CPU figure"
    assert [d.path for d in sample.disks] == [str(tmp_path)]
    assert 0 < sample.disks[0].free <= sample.disks[0].total
    json.dumps(sample.to_dict())  # the CLI prints exactly this


def test_folders_on_one_disk_are_reported_once_and_missing_ones_by_their_parent(tmp_path):
    missing = tmp_path / "not" / "made" / "yet"
    sampler = HardwareSampler([missing, tmp_path / "x", tmp_path])
    disks = sampler.sample().disks
    assert [d.path for d in disks] == [str(tmp_path)]


def test_a_watched_child_is_reported_until_it_ends():
    child = subprocess.Popen([sys.executable, "-c", "import time\nend = time.time() + 30\nwhile time.time() < end: pass"])
    try:
        sampler = HardwareSampler([])
        assert sampler.watch(child.pid, "Training job 1")

        def child_reading():
            return {p.label: p for p in sampler.sample().processes}["Training job 1"]

        assert child_reading().pid == child.pid
        # it spins a core: sample until that shows (each reading covers the time since the one before)
        assert wait_for(lambda: child_reading().cpu_percent > 30, timeout=20, interval=0.25)
        child.kill()
        child.wait()
        assert [p.label for p in sampler.sample().processes] == ["Hearth"]
        assert not sampler.watch(child.pid, "gone"), "a process that has ended cannot be watched"
    finally:
        child.kill()


def test_nvml_reports_why_there_is_no_gpu_or_reads_every_gpu():
    """The real nvidia-ml-py on this machine: without a driver, a clear state; on a GPU machine, real figures."""
    state = gpu.probe_nvml()
    status = gpu.read_gpus(state)
    if state.module is None:
        assert not status.available and not status.devices
        assert "NVIDIA" in status.reason or "macOS" in status.reason or "nvidia-ml-py" in status.reason
    else:
        assert status.available and status.devices
        first = status.devices[0]
        assert 0 < first.memory_used <= first.memory_total
        assert first.utilization_percent is None or 0 <= first.utilization_percent <= 100


def test_without_a_driver_nvml_raises_library_not_found_and_the_reason_says_so():
    pynvml = pytest.importorskip("pynvml")
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError_LibraryNotFound as exc:
        reason = gpu.unavailable_reason(exc, system="Linux", machine="x86_64")
        assert reason.startswith("No NVIDIA driver found")
    else:
        pynvml.nvmlShutdown()
        pytest.skip("this machine has an NVIDIA driver, so the no-driver state cannot be produced here")


def test_macs_get_a_sentence_not_an_error():
    apple = gpu.unavailable_reason(ImportError("x"), system="Darwin", machine="arm64")
    intel = gpu.unavailable_reason(ImportError("x"), system="Darwin", machine="x86_64")
    assert "unified memory" in apple
    assert "macOS" in intel and "unified" not in intel
    assert "nvidia-ml-py" in gpu.unavailable_reason(ImportError("no module"), system="Windows", machine="AMD64")


class _NotSupported(Exception):
    pass


class _FakeNvml:
    """A card that reports memory and load but refuses temperature and power, as many consumer cards do."""

    NVML_TEMPERATURE_GPU = 0

    class _Mem:
        used, total = 3 * 1024**3, 8 * 1024**3

    class _Util:
        gpu = 42

    def nvmlDeviceGetMemoryInfo(self, handle):  # noqa: N802
        return self._Mem()

    def nvmlDeviceGetUtilizationRates(self, handle):  # noqa: N802
        return self._Util()

    def nvmlDeviceGetTemperature(self, handle, sensor):  # noqa: N802
        raise _NotSupported("Not Supported")

    nvmlDeviceGetPowerUsage = nvmlDeviceGetEnforcedPowerLimit = nvmlDeviceGetTemperature  # noqa: N815


def test_a_figure_the_card_refuses_is_left_out_and_the_rest_still_count():
    state = gpu._Nvml(_FakeNvml(), "", handles=[object()], names=["Test GPU"])
    status = gpu.read_gpus(state)
    assert status.available
    (device,) = status.devices
    assert (device.utilization_percent, device.memory_used, device.temperature_c, device.power_w) == (
        42.0, 3 * 1024**3, None, None)
