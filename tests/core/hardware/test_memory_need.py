from app.core.library.fit import MemoryBudget, memory_need
from app.core.library.registry import default_model, record_measured_memory

GB = 1024**3


def test_the_starter_model_needs_its_estimate_to_load_and_less_once_measured(core):
    budget = MemoryBudget(8 * GB, 16 * GB)
    with core.db.session() as session:
        ref = default_model(session)
    loading = memory_need(ref, 2048, "llama.cpp", loading=True, budget=budget)
    assert loading.loading and loading.label == ref.name
    assert 50 * 1024**2 < loading.bytes < 2 * GB
    with core.db.session() as session:
        record_measured_memory(session, ref.id, 2048, "llama.cpp", loading.bytes // 2)
        ref = default_model(session)
    loaded = memory_need(ref, 2048, "llama.cpp", loading=False, budget=budget)
    assert loaded.bytes == loading.bytes - loading.bytes // 2
