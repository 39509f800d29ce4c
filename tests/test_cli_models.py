"""`hearth models ...` in child processes: list (text and JSON), import, rm."""

import json

from app.core.library.sample_gguf import write_tiny_gguf
from tests.helpers.procs import hearth


def test_list_import_and_rm(hearth_home, tmp_path):
    listed = hearth("models", "list", "--json", home=hearth_home)
    assert listed.returncode == 0, listed.stderr
    (starter,) = json.loads(listed.stdout)
    assert starter["default"] and starter["quant"] == "Q4_1" and starter["fit"] == "fits"
    assert starter["parameters"] == "135M" and starter["context_length"] == 8192

    src = write_tiny_gguf(tmp_path / "mine-Q8_0.gguf", name="mine")
    imported = hearth("models", "import", str(src), home=hearth_home)
    assert imported.returncode == 0 and "Imported mine-Q8_0" in imported.stdout, imported.stderr
    table = hearth("models", "list", home=hearth_home).stdout
    assert "mine-Q8_0" in table and "FIT@4096" in table

    refused = hearth("models", "import", str(tmp_path / "nothing.gguf"), home=hearth_home)
    assert refused.returncode == 1 and "does not exist" in refused.stderr and "Traceback" not in refused.stderr

    kept = hearth("models", "rm", "mine", home=hearth_home)
    assert kept.returncode == 0 and "files kept on disk" in kept.stdout
    assert (hearth_home / "models" / "mine-Q8_0.gguf").exists()
    assert "mine" not in hearth("models", "list", "--no-scan", home=hearth_home).stdout
    hearth("models", "list", home=hearth_home)  # the scan finds the copy again
    gone = hearth("models", "rm", "mine", "--delete-files", home=hearth_home)
    assert gone.returncode == 0 and "deleted" in gone.stdout
    assert not (hearth_home / "models" / "mine-Q8_0.gguf").exists()
    starter_rm = hearth("models", "rm", "SmolLM2", "--delete-files", home=hearth_home)
    assert starter_rm.returncode == 1 and "comes with Hearth" in starter_rm.stderr
