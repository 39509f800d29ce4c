"""Hearth's DPO loss against TRL's `DPOTrainer`, step by step, on the same pairs, tokens, model, adapter start and
optimiser (what is held equal is listed in app/bench/trl_dpo.py). Both run as real child processes on the CPU."""

import json
import math
import subprocess
import sys

import pytest

from app.core.library.registry import default_model
from app.core.training.runner import child_env
from app.core.training.tokenizer import TrainingTokenizer
from tests.helpers.preference_jobs import QUESTIONS, marker_pair, with_preferences
from tests.helpers.training import Child, make_job

pytestmark = pytest.mark.slow
pytest.importorskip("trl", reason="TRL is not installed (pip install -e '.[dev]'); the parity check needs it")

STEPS = 5
# Measured (lr 5e-4, 4 pairs, 5 steps): equal to the 5th decimal at every step (0.69315, 0.44582, 0.26426, 0.15497,
# 0.08962 in both). The tolerance, 0.5 % of the loss, leaves room for float noise where a different machine or
# thread count sums in another order, and is still far below a step's own change (30-40 %).
TOLERANCE = 0.005
ANSWERS = ("Let me think about that for a moment.", "Sure.", "That is a good question, and the answer is long.",
           "I believe it depends on the season and on where you are.")


def test_the_dpo_loss_matches_trl_step_by_step(core, shared_training_cache, tmp_path):
    pairs = [marker_pair(q, a) for q, a in zip(QUESTIONS, ANSWERS)]
    options = dict(max_steps=STEPS, batch_size=len(pairs), grad_accum=1, learning_rate=5e-4, lr_schedule="constant",
                   lora_rank=8, lora_alpha=16, lora_dropout=0.0, preference_beta=0.1, seed=7, eval_every=0,
                   checkpoint_every=0, precision="fp32")  # TRL runs in float32 here, so Hearth does too
    job = make_job(core, shared_training_cache, **options)
    with_preferences(job, pairs, [], sft=False)
    child = Child(job.run_dir)
    assert child.finish() == 0, (job.run_dir / "stderr.log").read_text()[-3000:]
    hearth = [e["pref_loss"] for _, e in child.events if e["event"] == "step"]

    from app.bench.trl_dpo import tokenized_pairs

    with core.db.session() as session:
        base = default_model(session)
    (plain,) = [p for p in (shared_training_cache / "bases").iterdir() if not p.name.endswith(".partial")]
    config = {"base": str(plain), "out": str(tmp_path / "trl-out"), "steps": STEPS, "batch": len(pairs),
              "lr": options["learning_rate"], "rank": 8, "alpha": 16, "beta": 0.1, "seed": 7,
              "pairs": tokenized_pairs(pairs, TrainingTokenizer.for_model(base.path, base.format), 512)}
    (tmp_path / "trl.json").write_text(json.dumps(config), encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "app.bench.trl_dpo", str(tmp_path / "trl.json")], capture_output=True,
                         text=True, env=child_env(), timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    trl = json.loads(out.stdout.strip().splitlines()[-1])["losses"]

    print("step  hearth   trl")
    for i, (h, t) in enumerate(zip(hearth, trl, strict=True), 1):
        print(f"{i:4d}  {h:.5f}  {t:.5f}")
    assert len(hearth) == len(trl) == STEPS
    assert abs(hearth[0] - math.log(2)) < 1e-3 and abs(trl[0] - math.log(2)) < 1e-3
    assert trl[-1] < trl[0] - 0.05, "the steps must move the loss, or matching it proves little"
    for step, (h, t) in enumerate(zip(hearth[1:], trl[1:]), 2):
        assert abs(h - t) <= TOLERANCE * t, f"step {step}: Hearth {h:.5f} against TRL {t:.5f}"
