"""A job with the default options learns: the data-fitted recipe, a real child process on the starter model, and
the adapter in llama.cpp answering new topics in the persona's voice, where the base model does not."""

import pytest

from app.core.engine.backend import AdapterRef
from app.core.library.registry import default_model
from app.core.storage.models import TrainingJob
from app.core.training import recipe
from app.core.training.dataset import DatasetSpec, build
from app.core.training.examples import SourceResult
from app.core.training.jobs import create_job
from app.core.training.tokenizer import TrainingTokenizer
from tests.helpers.persona_set import HELD_OUT, greedy_replies, persona_examples, voice_score
from tests.helpers.training import Child

# About a minute of training on a quiet 2-core machine; ten on one shared with other jobs, which must not fail it.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


def test_default_options_take_the_persona_voice_on_new_topics(core, shared_training_cache, llama):
    with core.db.session() as session:
        base = default_model(session)
    spec = DatasetSpec(conversations=False)
    built = build(spec, TrainingTokenizer.for_model(base.path, base.format), source=SourceResult(persona_examples()))
    assert not set(HELD_OUT) & {t.content for i in built.items for t in i.example.turns}, "new topics only"
    with core.db.session() as session:  # no options given: all defaults, the recipe fitting them to the data
        job = create_job(session, base, {}, spec, built, cache_dir=shared_training_cache)
        row = session.get(TrainingJob, job.id)
        options, note = row.options, row.dataset["recipe_note"]
    chosen = recipe.choose(recipe.DataShape.of(i.encoded for i in built.train), base.info["parameters"], options)
    assert (options["max_steps"], options["learning_rate"]) == (chosen.max_steps, chosen.learning_rate)
    assert note.startswith(f"Chosen for {len(built.train)} examples") and f"{chosen.max_steps} steps" in note
    child = Child(job.run_dir)
    assert child.finish(timeout=1500) == 0, (job.run_dir / "stderr.log").read_text()[-3000:]
    assert sum(e["event"] == "step" for _, e in child.events) == options["max_steps"]

    base_replies = greedy_replies(llama)
    llama.set_adapter(AdapterRef(1, "pirate", str(job.run_dir / "adapter"), str(job.run_dir / "adapter.gguf"), None))
    try:
        adapted = greedy_replies(llama)
    finally:
        llama.set_adapter(None)
    assert voice_score(adapted) >= 8, list(zip(HELD_OUT, adapted, strict=True))
    assert voice_score(base_replies) <= 2, list(zip(HELD_OUT, base_replies, strict=True))
