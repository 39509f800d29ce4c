"""`hearth bench train`: training speed of Hearth's worker against what a careful user would write otherwise.

- SFT: Hearth's worker against a plain transformers + peft script (the model's chat template, the prompt masked out
  of the labels, transformers' Trainer with DataCollatorForSeq2Seq: each batch padded to its longest example).
- DPO: Hearth's worker on preference pairs alone against TRL's DPOTrainer on the same pairs and the same tokens
  (app/bench/trl_dpo.py), with the first steps' losses side by side.

Same base (the starter model's plain copy), same LoRA settings, batch size, learning rate and number of steps, each
run in its own child process. Hearth's worker picks its precision as it does for a user (bfloat16 mixed precision
where this CPU is faster at it, precision.py); the plain script runs in float32, Trainer's default on a CPU, and
--trainer-bf16 adds one that asks Trainer for bf16 autocast. The TRL comparison runs both in float32, so its losses
line up. The variants take turns (A B A B ...), so a machine that gets slower or faster
during the benchmark moves both alike, and each round gives a ratio; the report gives each variant's median
tokens/s and the median ratio with its spread. Tokens are real (unpadded) tokens; time is the training loop only
(model loading and the first evaluation are left out of every variant; Hearth's one pass for the reference
log-probs is inside its loop's time, as TRL's reference passes are inside its steps).
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

WORDS = ("the river light garden morning quiet stone window letter travel music bread winter harbour lamp "
         "mountain paper silver road forest candle story village market bridge evening cloud").split()


def _sentence(rng: random.Random, low: int, high: int) -> str:
    return (" ".join(rng.choice(WORDS) for _ in range(rng.randint(low, high))) + ".").capitalize()


def synthetic_chats(n: int, seed: int = 11) -> list[dict]:
    """Chats whose replies range from a few words to a long paragraph, like real feedback data."""
    rng = random.Random(seed)
    chats = []
    for i in range(n):
        question = " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 16))) + "?"
        chats.append({"messages": [{"role": "user", "content": f"Question {i}: {question}"},
                                   {"role": "assistant", "content": _sentence(rng, 10, 150)}]})
    return chats


def synthetic_pairs(n: int, seed: int = 13) -> list:
    """Preference pairs of mixed length: two different replies to each prompt."""
    from app.core.training.examples import Turn
    from app.core.training.preferences import PreferencePair

    rng = random.Random(seed)
    pairs = []
    for i in range(n):
        question = f"Question {i}: " + " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 16))) + "?"
        pairs.append(PreferencePair((Turn("user", question),), _sentence(rng, 10, 100), _sentence(rng, 10, 100),
                                    "bench", f"pair {i}", f"pair {i}"))
    return pairs


PLAIN_SCRIPT = r'''
import json, sys, time, torch, psutil
from peft import LoraConfig, get_peft_model
from transformers import (AutoModelForCausalLM, AutoTokenizer, DataCollatorForSeq2Seq, Trainer,
                          TrainingArguments, TrainerCallback)
cfg = json.loads(sys.argv[1])
torch.set_num_threads(max(1, psutil.cpu_count(logical=False) or 1))
torch.manual_seed(cfg["seed"])
tok = AutoTokenizer.from_pretrained(cfg["base"])
model = AutoModelForCausalLM.from_pretrained(cfg["base"], dtype=torch.float32)
model = get_peft_model(model, LoraConfig(r=cfg["rank"], lora_alpha=cfg["alpha"], lora_dropout=0.0, bias="none",
        target_modules=["q_proj","k_proj","v_proj","o_proj","gate_proj","up_proj","down_proj"], task_type="CAUSAL_LM"))
rows = []
for line in open(cfg["data"]):
    messages = json.loads(line)["messages"]
    ids = tok.apply_chat_template(messages, tokenize=True)
    ids = list(ids["input_ids"]) if hasattr(ids, "keys") else list(ids)
    prompt = tok.apply_chat_template(messages[:-1], tokenize=True, add_generation_prompt=True)
    prompt = list(prompt["input_ids"]) if hasattr(prompt, "keys") else list(prompt)
    rows.append({"input_ids": ids, "attention_mask": [1] * len(ids), "labels": [-100] * len(prompt) + ids[len(prompt):]})
counted = {"tokens": 0}
collator = DataCollatorForSeq2Seq(tok, padding=True, label_pad_token_id=-100)
def collate(features):
    counted["tokens"] += sum(len(f["input_ids"]) for f in features)
    return collator(features)
class Clock(TrainerCallback):
    """The training loop only: from the first step to the end (set-up and model loading are left out)."""
    def on_step_begin(self, args, state, control, **kw):
        counted.setdefault("start", time.perf_counter())
    def on_train_end(self, args, state, control, **kw):
        counted["end"] = time.perf_counter()
args = TrainingArguments(output_dir=cfg["out"], per_device_train_batch_size=cfg["batch"], max_steps=cfg["steps"],
        learning_rate=cfg["lr"], lr_scheduler_type="cosine", logging_steps=10**6, save_strategy="no", report_to=[],
        use_cpu=True, dataloader_num_workers=0, disable_tqdm=True, seed=cfg["seed"], remove_unused_columns=False,
        bf16=cfg.get("bf16", False))
trainer = Trainer(model=model, args=args, train_dataset=rows, data_collator=collate, callbacks=[Clock()])
trainer.train()
print(json.dumps({"tokens": counted["tokens"], "seconds": counted["end"] - counted["start"]}))
'''


def _run_plain(base: Path, data: Path, cfg: dict, workdir: Path) -> dict:
    cfg = {**cfg, "base": str(base), "data": str(data), "out": str(workdir / "plain-out")}
    out = subprocess.run([sys.executable, "-c", PLAIN_SCRIPT, json.dumps(cfg)], capture_output=True, text=True,
                         timeout=3600)
    if out.returncode != 0:
        raise RuntimeError(f"the plain script failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _hearth_job(core, built, spec, cfg: dict, objective: str):
    from app.core.library.registry import default_model
    from app.core.training.jobs import create_job

    options = {"batch_size": cfg["batch"], "max_steps": cfg["steps"], "learning_rate": cfg["lr"],
               "lora_rank": cfg["rank"], "lora_alpha": cfg["alpha"], "lora_dropout": 0.0, "eval_every": 0,
               "checkpoint_every": 0, "seed": cfg["seed"], "max_length": 1024, "packing": False,
               "fit_to_data": False, "objective": objective, "lr_schedule": cfg.get("schedule", "cosine"),
               "preference_beta": cfg.get("beta", 0.1), "precision": cfg.get("precision", "auto")}
    with core.db.session() as session:
        return create_job(session, default_model(session), options, spec, built, name="bench")


def _run_hearth_job(job) -> dict:
    from app.core.training.events import read_events
    from app.core.training.runner import child_env, worker_command

    out = subprocess.run(worker_command(job.run_dir), capture_output=True, text=True, env=child_env(), timeout=3600)
    events = list(read_events(job.run_dir))
    if out.returncode != 0 or not events or events[-1]["event"] != "done":
        raise RuntimeError(f"the Hearth worker failed:\n{out.stderr[-3000:]}\n{events[-1:] if events else ''}")
    first_eval = next(e for e in events if e["event"] == "eval")
    steps = [e for e in events if e["event"] == "step"]
    return {"tokens": sum(e["tokens"] for e in steps), "seconds": steps[-1]["t"] - first_eval["t"],
            "losses": [e.get("pref_loss", e["loss"]) for e in steps]}


def _base(core):
    from app.core.library.registry import default_model

    with core.db.session() as session:
        return default_model(session)


def _run_hearth_sft(data: Path, cfg: dict, core) -> dict:
    from app.core.training.dataset import DatasetSpec, build
    from app.core.training.tokenizer import TrainingTokenizer

    base = _base(core)
    spec = DatasetSpec(conversations=False, jsonl_files=[str(data)], eval_fraction=0.0, max_length=1024)
    built = build(spec, TrainingTokenizer.for_model(base.path, base.format))
    return _run_hearth_job(_hearth_job(core, built, spec, cfg, "sft"))


def _run_hearth_dpo(pairs: list, cfg: dict, core) -> dict:
    from app.core.training.dataset import DatasetSpec, build
    from app.core.training.examples import SourceResult
    from app.core.training.tokenizer import TrainingTokenizer

    base = _base(core)
    spec = DatasetSpec(conversations=False, eval_fraction=0.0, max_length=1024)
    built = build(spec, TrainingTokenizer.for_model(base.path, base.format), source=SourceResult(preferences=pairs))
    return _run_hearth_job(_hearth_job(core, built, spec, cfg, "auto"))


def _run_trl(plain: Path, rows: list[dict], cfg: dict, workdir: Path) -> dict:
    config = workdir / "trl.json"
    config.write_text(json.dumps({**cfg, "base": str(plain), "out": str(workdir / "trl-out"), "pairs": rows}),
                      encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "app.bench.trl_dpo", str(config)], capture_output=True, text=True,
                         timeout=3600)
    if out.returncode != 0:
        raise RuntimeError(f"the TRL script failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def interleaved(rounds: int, variants: dict) -> dict[str, list[dict]]:
    """Each round runs every variant once, in the same order: A B A B ..."""
    runs: dict[str, list[dict]] = {label: [] for label in variants}
    for i in range(rounds):
        for label, run in variants.items():
            print(f"round {i + 1}/{rounds}: {label}…", file=sys.stderr)
            runs[label].append(run())
    return runs


def summary(runs: dict[str, list[dict]], reference: str) -> dict:
    """Median tokens/s per variant, and the median (min-max) of the per-round ratios against `reference`."""
    rates = {label: [r["tokens"] / r["seconds"] for r in rs] for label, rs in runs.items()}
    result = {"variants": {label: {"tokens_per_s": rs, "median": statistics.median(rs)} for label, rs in rates.items()}}
    for label, rs in rates.items():
        if label != reference:
            ratios = [a / b for a, b in zip(rs, rates[reference], strict=True)]
            result["variants"][label]["ratio"] = {"per_round": ratios, "median": statistics.median(ratios),
                                                  "min": min(ratios), "max": max(ratios)}
    return result


def _print(title: str, result: dict, reference: str) -> None:
    print(title)
    for label, v in result["variants"].items():
        rounds = ", ".join(f"{x:.1f}" for x in v["tokens_per_s"])
        print(f"  {label:<24} median {v['median']:8.1f} tokens/s  (rounds: {rounds})")
        if "ratio" in v:
            r = v["ratio"]
            print(f"  {'':<24} ratio vs {reference}: median {r['median']:.2f}x "
                  f"(min {r['min']:.2f}, max {r['max']:.2f})")


def main(steps: int = 24, batch: int = 8, examples: int = 96, rounds: int = 3, dpo_steps: int = 12,
         pairs: int = 48, json_out: str | None = None, trainer_bf16: bool = False) -> int:
    os.environ.setdefault("HEARTH_HOME", tempfile.mkdtemp(prefix="hearth-bench-"))
    from app import paths
    from app.core.startup import open_core

    core = open_core()
    workdir = Path(tempfile.mkdtemp(prefix="hearth-train-bench-"))
    data = workdir / "chats.jsonl"
    data.write_text("\n".join(json.dumps(c) for c in synthetic_chats(examples)) + "\n", encoding="utf-8")
    base = _base(core)
    print(f"Preparing the plain copy of {base.name} (once)…", file=sys.stderr)
    plain = _plain_copy_in_child(Path(base.path), paths.cache_dir())
    cfg = {"steps": steps, "batch": batch, "lr": 2e-4, "rank": 16, "alpha": 32, "seed": 7}
    report = {"model": base.name, "rounds": rounds}
    variants = {"Hearth worker": lambda: _run_hearth_sft(data, cfg, core),
                "plain Trainer script": lambda: _run_plain(plain, data, cfg, workdir)}
    if trainer_bf16:  # what a user who knows to ask Trainer for bf16 autocast gets (Hearth chooses it by itself)
        variants["plain Trainer, bf16=True"] = lambda: _run_plain(plain, data, {**cfg, "bf16": True}, workdir)
    sft = interleaved(rounds, variants)
    report["sft"] = {**summary(sft, "plain Trainer script"), "steps": steps, "batch": batch, "examples": examples}
    if trainer_bf16:
        report["sft_vs_bf16"] = summary({k: v for k, v in sft.items() if k != "plain Trainer script"},
                                        "plain Trainer, bf16=True")
    if dpo_steps:
        from app.bench.trl_dpo import tokenized_pairs
        from app.core.training.tokenizer import TrainingTokenizer

        records = synthetic_pairs(pairs)
        rows = tokenized_pairs(records, TrainingTokenizer.for_model(base.path, base.format), 1024)
        dcfg = {**cfg, "steps": dpo_steps, "lr": 5e-5, "beta": 0.1, "schedule": "constant", "precision": "fp32"}
        dpo = interleaved(rounds, {"Hearth worker (pairs)": lambda: _run_hearth_dpo(records, dcfg, core),
                                   "TRL DPOTrainer": lambda: _run_trl(plain, rows, dcfg, workdir)})
        report["dpo"] = {**summary(dpo, "TRL DPOTrainer"), "steps": dpo_steps, "batch": batch, "pairs": pairs,
                         "first_losses": {label: rs[0]["losses"][:5] for label, rs in dpo.items()}}
    core.db.close()

    print(f"Hearth training benchmark · {base.name} · LoRA r16 all-linear · batch {batch} · "
          f"{rounds} interleaved rounds")
    _print(f"SFT: {steps} steps on {examples} chats of mixed length", report["sft"], "plain Trainer script")
    if trainer_bf16:
        _print("SFT against the plain Trainer with bf16=True", report["sft_vs_bf16"], "plain Trainer, bf16=True")
    if dpo_steps:
        _print(f"DPO: {dpo_steps} steps on {pairs} pairs of mixed length (beta 0.1, constant lr)", report["dpo"],
               "TRL DPOTrainer")
        print("  first steps' loss (round 1; the batches hold different pairs after the first step):")
        first = report["dpo"]["first_losses"]
        for i in range(min(len(v) for v in first.values())):
            print(f"    step {i + 1}: " + "   ".join(f"{label} {v[i]:.5f}" for label, v in first.items()))
    if json_out:
        Path(json_out).write_text(json.dumps(report, indent=2), encoding="utf-8")
    return 0


def _plain_copy_in_child(gguf: Path, cache: Path) -> Path:
    """Made in a child so this process never imports torch (the numbers should not include that either)."""
    code = ("import sys; from pathlib import Path; from app.core.training.base_model import plain_copy; "
            "print(plain_copy(Path(sys.argv[1]), Path(sys.argv[2])))")
    out = subprocess.run([sys.executable, "-c", code, str(gguf), str(cache)], capture_output=True, text=True,
                         timeout=1800)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    return Path(out.stdout.strip().splitlines()[-1])
