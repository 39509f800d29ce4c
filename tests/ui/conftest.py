"""Window tests start engine processes; none may outlive its test (a test that forgets to shut its window's engine
down fails here, and the engine is ended anyway)."""

import pytest

from tests.helpers.engines import engines_under, kill_all


@pytest.fixture(autouse=True)
def no_engine_left_behind():
    from app.core.training import tokenizer

    provider = tokenizer.gguf_vocab_provider
    yield
    tokenizer.gguf_vocab_provider = provider  # a window's engine tokenizer never outlives its test
    left = engines_under()
    if left:
        from tests.helpers.waiting import wait_for

        # A shut-down engine may still be on its way out (it saves a stopped reply, frees the model).
        if not wait_for(lambda: not engines_under(), timeout=20):
            kill_all(engines_under())
            pytest.fail("an engine process outlived its test (was engine.shutdown() called?)")
