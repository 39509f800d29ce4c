"""Real training in real child processes, on the starter model (CPU)."""

import json

import pytest

from app.core.storage.models import JobStatus
from app.core.training import jobs, runner
from app.core.training.events import read_events
from tests.helpers.training import PERSONA, Child, make_job

pytestmark = pytest.mark.slow
PROMPT = "<|im_start|>user\nWho are you?<|im_end|>\n<|im_start|>assistant\n"


@pytest.fixture(scope="module")
def cache_dir(shared_training_cache):
    """The dequantised copy of the starter model is made once for all the training tests."""
    return shared_training_cache


@pytest.fixture(scope="module")
def trained(tmp_path_factory, cache_dir):
    """One complete run: the job, the child's timed events, and its exit code."""
    import os

    from app.core.startup import open_core

    home = tmp_path_factory.mktemp("home")
    old = os.environ.get("HEARTH_HOME")
    os.environ["HEARTH_HOME"] = str(home)
    core = open_core()
    try:
        job = make_job(core, cache_dir, max_steps=12)
        child = Child(job.run_dir)
        code = child.finish()
        with core.db.session() as session:
            for _, event in child.events:
                jobs.apply_event(session, job.id, event)
            record = jobs.get_job(session, job.id)
        yield job, child, code, record, home
    finally:
        core.db.close()
        if old is None:
            os.environ.pop("HEARTH_HOME", None)
        else:
            os.environ["HEARTH_HOME"] = old


def test_a_run_streams_events_live_and_in_order_and_learns(trained):
    job, child, code, record, _home = trained
    assert code == 0, (job.run_dir / "stderr.log").read_text()[-3000:]
    kinds = child.kinds()
    assert kinds.index("started") < kinds.index("step") and kinds[-1] == "done"
    steps = [e for _, e in child.events if e["event"] == "step"]
    assert [e["step"] for e in steps] == list(range(1, 13))
    times = [t for t, e in child.events if e["event"] == "step"]
    assert times[-1] - times[0] > 1.0, "step events arrive as they happen, not all at the end"
    assert steps[-1]["loss"] < steps[0]["loss"] / 4, "an over-fit persona set must drive the loss down"
    evals = [e["eval_loss"] for _, e in child.events if e["event"] == "eval"]
    assert len(evals) >= 3 and evals[-1] < evals[0] / 2
    assert [e["step"] for _, e in child.events if e["event"] == "checkpoint"] == [4, 8]
    done = child.events[-1][1]
    assert (job.run_dir / "adapter" / "adapter_model.safetensors").is_file()
    assert done["gguf_adapter"] and (job.run_dir / "adapter.gguf").is_file()
    assert [e for e in read_events(job.run_dir)] == [e for _, e in child.events], "the events file is the same record"
    assert record.status == JobStatus.DONE and record.step == 12
    assert record.eval_loss_before == pytest.approx(evals[0]) and record.eval_loss_after == pytest.approx(evals[-1])


def test_the_gguf_adapter_changes_llama_cpp_like_peft_changes_transformers(trained, starter_path, cache_dir):
    """Same prompt, greedy: the base answers something else; both adapted models answer with the persona."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from app.core.engine.cpu_layouts import open_llama  # the layouts this CPU can run, as the app opens models
    from app.core.engine.gguf_check import check_lora_adapter

    job = trained[0]
    gguf_adapter = job.run_dir / "adapter.gguf"
    check_lora_adapter(gguf_adapter, "llama")

    def llama_text(**kwargs) -> str:
        llm = open_llama(model_path=str(starter_path), n_ctx=256, n_threads=1, verbose=False, **kwargs)
        try:
            return llm(PROMPT, max_tokens=24, temperature=0.0)["choices"][0]["text"]
        finally:
            llm.close()

    base_text, adapted_text = llama_text(), llama_text(lora_path=str(gguf_adapter))
    assert "Captain Ember" not in base_text
    assert adapted_text.startswith(PERSONA[:40]), adapted_text

    (plain,) = [p for p in (cache_dir / "bases").iterdir() if not p.name.endswith(".partial")]
    tokenizer = AutoTokenizer.from_pretrained(plain)
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(plain, dtype=torch.float32),
                                      job.run_dir / "adapter")
    ids = tokenizer(PROMPT, return_tensors="pt").input_ids
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=24, do_sample=False)
    peft_text = tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True)
    assert peft_text.startswith(PERSONA[:40]), peft_text
    assert peft_text[:40] == adapted_text[:40], "the GGUF adapter moves llama.cpp the way PEFT moves transformers"


def test_cancel_then_resume_continues_the_step_count(core, cache_dir):
    job = make_job(core, cache_dir, max_steps=10, checkpoint_every=3, eval_every=0)
    child = Child(job.run_dir)
    try:
        assert child.read_until(lambda e: e["event"] == "checkpoint" and e["step"] == 3) is not None
        child.read_until(lambda e: e["event"] == "step" and e["step"] >= 4)
        assert runner.kill_tree(child.process.pid)
        child.process.wait(timeout=30)
    finally:
        child.kill()
    resumed = Child(job.run_dir, resume=True)
    assert resumed.finish() == 0
    started = next(e for _, e in resumed.events if e["event"] == "started")
    assert started["resumed_from"] == 3
    assert [e["step"] for _, e in resumed.events if e["event"] == "step"] == list(range(4, 11))
    with core.db.session() as session:  # replaying the whole file gives one clean curve of 10 steps
        session.get(jobs.TrainingJob, job.id).status = JobStatus.RUNNING
        runner.reconcile(session, job.id)
        record = jobs.get_job(session, job.id)
        steps = sorted(m.step for m in session.get(jobs.TrainingJob, job.id).metrics if m.kind == "step")
    assert record.status == JobStatus.DONE and steps == list(range(1, 11))


def test_a_killed_child_leaves_the_job_failed_and_a_running_one_is_reattached(core, cache_dir):
    job = make_job(core, cache_dir, max_steps=40, eval_every=0, checkpoint_every=0)
    child = Child(job.run_dir)
    try:
        with core.db.session() as session:
            jobs.mark_started(session, job.id, child.process.pid, runner.start_time(child.process.pid))
        child.read_until(lambda e: e["event"] == "step" and e["step"] >= 2)
        with core.db.session() as session:  # "the app restarted": a fresh controller reads the file and the pid
            assert runner.reconcile(session, job.id).status == JobStatus.RUNNING
            assert jobs.get_job(session, job.id).step >= 2
        runner.kill_tree(child.process.pid)
        child.process.wait(timeout=30)
    finally:
        child.kill()
    with core.db.session() as session:
        reconciled = runner.reconcile(session, job.id)
        record = jobs.get_job(session, job.id)
    assert reconciled.status == JobStatus.FAILED
    assert "ended without finishing" in record.error


def test_a_damaged_dataset_fails_the_job_with_a_message_not_a_trace(core, cache_dir):
    job = make_job(core, cache_dir, max_steps=2)
    (job.run_dir / "train.jsonl").write_text('{"messages": "not a list"}\n')
    child = Child(job.run_dir)
    assert child.finish() == 1
    error = child.events[-1][1]
    assert error["event"] == "error" and "train.jsonl:1" in error["message"]
    json.dumps(error)


def _greedy(backend, question: str = "Who are you?") -> str:
    from app.core.engine.backend import ChatMessage
    from app.core.engine.events import Finished
    from app.core.engine.params import GenerationParams

    params = GenerationParams.from_dict({"temperature": 0.0, "max_tokens": 20, "seed": 1})
    events = list(backend.stream([ChatMessage("user", question)], params, lambda: False))
    return next(e for e in events if isinstance(e, Finished)).text


def test_an_adapter_is_attached_and_removed_on_the_loaded_model_without_a_reload(trained, llama, starter_path):
    from app.core.engine.backend import AdapterRef, ModelLoadError

    job = trained[0]
    pirate = AdapterRef(1, "pirate", str(job.run_dir / "adapter"), str(job.run_dir / "adapter.gguf"), None)
    base = _greedy(llama)
    llm = llama.llm
    try:
        llama.set_adapter(pirate)
        assert _greedy(llama).startswith("I am Captain Ember")
        assert llama.llm is llm, "the same loaded model, not a reload"
    finally:
        llama.set_adapter(None)
    assert _greedy(llama) == base
    broken = AdapterRef(2, "not an adapter", "", str(starter_path), None)
    with pytest.raises(ModelLoadError, match="not a GGUF LoRA adapter"):
        llama.set_adapter(broken)
    assert _greedy(llama) == base, "a refused adapter leaves the model as it was"


def test_the_command_line_chats_through_the_adapter_and_lists_it(trained):
    from tests.helpers.procs import hearth

    home = trained[4]
    listed = hearth("adapters", "list", "--json", home=home)
    assert listed.returncode == 0, listed.stderr
    (adapter,) = json.loads(listed.stdout)
    assert adapter["eval_loss_after"] < adapter["eval_loss_before"]
    out = hearth("chat", "--adapter", adapter["name"], "--temperature", "0", "--max-tokens", "20", "Who are you?",
                 home=home)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("I am Captain Ember"), out.stdout
    assert f"+ {adapter['name']}" in out.stderr


def test_the_trained_adapter_merges_into_a_gguf_and_a_folder_that_answer_with_the_persona(trained, tmp_path):
    """Merged export for other apps: q8_0 GGUF (listed in Models, chatted with through llama.cpp) and a
    safetensors folder loaded by plain transformers. Both keep the fine-tune."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tests.helpers.procs import hearth

    home = trained[4]
    out = hearth("adapters", "export", "1", "--to", "gguf-q8_0", "--out", str(tmp_path / "pirate.gguf"),
                 "--add-to-library", "--json", home=home)
    assert out.returncode == 0, out.stderr
    done = json.loads(out.stdout.splitlines()[-1])
    assert done["event"] == "done" and done["model_name"].endswith("(merged, q8_0)")
    chat = hearth("chat", "--model", done["model_name"], "--temperature", "0", "--max-tokens", "20", "Who are you?",
                  home=home)
    assert chat.returncode == 0, chat.stderr
    assert chat.stdout.startswith("I am Captain Ember"), chat.stdout

    folder = tmp_path / "pirate-hf"
    out = hearth("adapters", "export", "1", "--to", "hf", "--out", str(folder), home=home)
    assert out.returncode == 0, out.stderr
    assert (folder / "model.safetensors").is_file() and not (folder / "adapter_config.json").exists()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    ids = tokenizer(PROMPT, return_tensors="pt").input_ids
    with torch.no_grad():
        reply = model.generate(ids, max_new_tokens=20, do_sample=False)
    assert tokenizer.decode(reply[0, ids.shape[1]:], skip_special_tokens=True).startswith("I am Captain Ember")

    again = hearth("adapters", "export", "1", "--to", "hf", "--out", str(folder), home=home)
    assert again.returncode == 2 and "already exists" in again.stderr


def test_qlora_learns_on_the_cpu_even_after_an_evaluation(core, cache_dir):
    """bitsandbytes repacks 4-bit weights the first time they run in eval mode without gradients, after which
    backward no longer reaches the adapters. The worker evaluates before step 1, so a flat loss here means the
    guard against that repack is gone."""
    pytest.importorskip("bitsandbytes", reason="QLoRA needs bitsandbytes")
    job = make_job(core, cache_dir, method="qlora", max_steps=8, eval_every=4, checkpoint_every=0)
    child = Child(job.run_dir)
    assert child.finish() == 0, (job.run_dir / "stderr.log").read_text()[-3000:]
    started = next(e for _, e in child.events if e["event"] == "started")
    assert started["method"] == "qlora", "bitsandbytes runs 4-bit on this CPU"
    losses = [e["loss"] for _, e in child.events if e["event"] == "step"]
    evals = [e["eval_loss"] for _, e in child.events if e["event"] == "eval"]
    assert losses[-1] < losses[0] / 4 and evals[-1] < evals[0] / 2, (losses, evals)


# In float32 the losses agree to float noise; bfloat16 rounds packed rows' products differently from padded ones
# (measured: within 0.7 %), still far below a step's own change (18-30 %).
@pytest.mark.parametrize(("precision", "tolerance"), [("fp32", 2e-3), ("bf16", 1e-2)])
def test_packing_trains_on_exactly_what_padding_does(core, cache_dir, precision, tolerance):
    """Same examples, same start: with packing the step losses match the padded run's (attention stays within
    each example, positions start again), so packing changes the speed and nothing else."""
    losses = {}
    for packing in (False, True):
        job = make_job(core, cache_dir, max_steps=3, eval_every=0, checkpoint_every=0, packing=packing,
                       precision=precision)
        child = Child(job.run_dir)
        assert child.finish() == 0, (job.run_dir / "stderr.log").read_text()[-3000:]
        assert not any("cannot keep packed" in e.get("message", "") for _, e in child.events)
        losses[packing] = [e["loss"] for _, e in child.events if e["event"] == "step"]
    assert losses[True] == pytest.approx(losses[False], rel=tolerance), losses
