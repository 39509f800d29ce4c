"""The recommended models shipped with Hearth: the list parses, every entry is complete, and each gets a fit."""

import json
from importlib import resources

import pytest

from app.core.library import recommended
from app.core.library.fit import MemoryBudget, Verdict
from app.core.library.metadata import quant_from_filename
from app.core.library.recommended import RecommendedListError

GiB = 1024**3


def test_the_shipped_list_is_package_data_and_every_entry_is_complete():
    assert resources.files("app.core.library").joinpath("recommended.json").is_file()
    models = recommended.load()
    assert 6 <= len(models) <= 10
    assert [m.size for m in models] == sorted(m.size for m in models), "smallest download first"
    assert len({m.id for m in models}) == len(models) and len({(m.repo_id, m.filename) for m in models}) == len(models)
    for m in models:
        assert m.filename.endswith(".gguf") and "/" in m.repo_id and len(m.sha256) == 64
        assert quant_from_filename(m.filename) == m.quant, m.filename
        assert m.licence and m.licence_url.startswith("https://") and m.about
        # a Q4_K_M file holds roughly 4.5-6.5 bits per parameter: catches a size or a parameter count typed wrong
        bits = 8 * m.size / m.parameters
        assert 4.5 < bits < 6.6, f"{m.id}: {bits:.2f} bits per parameter"
        assert m.shape["n_head"] % m.shape["n_head_kv"] == 0, m.id


def test_each_entry_gets_a_fit_from_its_shape_without_a_network():
    roomy = MemoryBudget(ram_available=64 * GiB, ram_total=64 * GiB)
    tight = MemoryBudget(ram_available=1 * GiB, ram_total=4 * GiB)
    for m in recommended.load():
        fit = m.fit(4096, budget=roomy)
        assert fit.verdict == Verdict.FITS, m.id
        assert fit.weights == m.size and fit.kv_cache > 0
    by_id = {m.id: m for m in recommended.load()}
    assert by_id["qwen2.5-7b-instruct"].fit(4096, budget=tight).verdict == Verdict.WONT_FIT
    smol = by_id["smollm2-1.7b-instruct"]
    assert smol.fit(32768, budget=roomy).n_ctx == smol.shape["context_length"], "capped at the model's own context"


def _one(**change):
    entry = json.loads(resources.files("app.core.library").joinpath("recommended.json").read_text())["models"][0]
    entry.update(change)
    return {"models": [entry]}


@pytest.mark.parametrize(
    "change, words",
    [
        ({"repo_id": "no-owner"}, "owner/name"),
        ({"filename": "model.safetensors"}, ".gguf"),
        ({"sha256": "abc"}, "sha256"),
        ({"size": 0}, "'size'"),
        ({"licence": ""}, "'licence'"),
        ({"shape": {"architecture": "llama", "layers": 2}}, "context_length"),
    ],
)
def test_a_broken_entry_is_refused_with_the_entry_and_field_named(change, words):
    with pytest.raises(RecommendedListError) as caught:
        recommended.parse(_one(**change), "test.json")
    assert words in str(caught.value) and "entry 1" in str(caught.value)


def test_an_unreadable_list_says_so(tmp_path):
    path = tmp_path / "list.json"
    path.write_text("{ not json")
    with pytest.raises(RecommendedListError, match="cannot be read"):
        recommended.load(path)
