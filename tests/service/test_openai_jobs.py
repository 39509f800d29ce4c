"""The API's owner-thread side without a server: model names, the context check, the embedding context."""

import pytest

from app.core.library.registry import default_model
from app.service import openai_jobs as jobs
from app.service.openai_schema import APIError


def test_a_model_is_named_by_name_or_id_and_an_unknown_one_is_404(core):
    with core.db.session() as s:
        starter = default_model(s)
    assert jobs.resolve_target(core.db, starter.name).model.id == starter.id
    assert jobs.resolve_target(core.db, str(starter.id)).name == starter.name
    for unknown in ("no such model", f"{starter.name}@no-such-adapter"):
        with pytest.raises(APIError) as refused:
            jobs.resolve_target(core.db, unknown)
        assert (refused.value.status, refused.value.code) == (404, "model_not_found")


def test_the_context_check_gives_the_numbers_and_never_cuts():
    assert jobs.check_fits(100, None, 4096) == 3996  # no max_tokens: the rest of the context
    assert jobs.check_fits(100, 50, 4096) == 50
    with pytest.raises(APIError, match="needs 5000 tokens but the model's context holds 4096"):
        jobs.check_fits(5000, None, 4096)
    with pytest.raises(APIError, match="4100 in all"):
        jobs.check_fits(100, 4000, 4096)


class _Owner:  # stands for the model host the embedding context sits beside
    pass


def test_the_embedding_context_is_kept_for_the_next_request_and_can_be_freed(core):
    with core.db.session() as s:
        starter = default_model(s)
    owner = _Owner()
    embedder = jobs._embedders.setdefault(owner, jobs.Embedder())
    vectors, tokens = embedder.embed(starter, ["one", "two words"], n_ctx=8192, n_threads=1)
    assert len(vectors) == 2 and tokens > 0 and embedder.llm.n_ctx() == jobs.EMBEDDING_CONTEXT
    opened = embedder.llm
    embedder.embed(starter, ["again"], n_ctx=8192, n_threads=1)
    assert embedder.llm is opened
    jobs.close_embeddings(owner, path="/some/other/model.gguf")
    assert embedder.llm is opened  # another model's release leaves it alone
    jobs.close_embeddings(owner, path=starter.path)
    assert embedder.llm is None and embedder.path is None
