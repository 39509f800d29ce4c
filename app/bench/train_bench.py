"""`hearth bench train`: training tokens/s of Hearth's worker against a plain transformers + peft script.

Same base (the starter model's plain copy), same synthetic chats of mixed length, same LoRA settings, batch size,
learning rate and number of steps, each in its own child process, one after the other. Tokens are real
(unpadded) tokens; time is the training loop only (model loading and the first evaluation are left out of both).

The plain script is what a careful user would write: the model's chat template, the prompt masked out of the
labels, transformers' Trainer with DataCollatorForSeq2Seq (each batch padded to its longest example).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

WORDS = ("the river light garden morning quiet stone window letter travel music bread winter harbour lamp "
         "mountain paper silver road forest candle story village market bridge evening cloud").split()


def synthetic_chats(n: int, seed: int = 11) -> list[dict]:
    """Chats whose replies range from a few words to a long paragraph, like real feedback data."""
    rng = random.Random(seed)
    chats = []
    for i in range(n):
        question = " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 16))) + "?"
        reply = " ".join(rng.choice(WORDS) for _ in range(rng.randint(10, 150))) + "."
        chats.append({"messages": [{"role": "user", "content": f"Question {i}: {question}"},
                                   {"role": "assistant", "content": reply.capitalize()}]})
    return chats


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
        use_cpu=True, dataloader_num_workers=0, disable_tqdm=True, seed=cfg["seed"], remove_unused_columns=False)
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


def _run_hearth(data: Path, cfg: dict, core) -> dict:
    from app.core.library.registry import default_model
    from app.core.training.dataset import DatasetSpec, build
    from app.core.training.events import read_events
    from app.core.training.jobs import create_job
    from app.core.training.runner import child_env, worker_command
    from app.core.training.tokenizer import TrainingTokenizer

    with core.db.session() as session:
        base = default_model(session)
    spec = DatasetSpec(conversations=False, jsonl_files=[str(data)], eval_fraction=0.0, max_length=1024)
    built = build(spec, TrainingTokenizer.for_model(base.path, base.format))
    options = {"batch_size": cfg["batch"], "max_steps": cfg["steps"], "learning_rate": cfg["lr"], "lora_rank": cfg["rank"],
               "lora_alpha": cfg["alpha"], "lora_dropout": 0.0, "eval_every": 0, "checkpoint_every": 0,
               "seed": cfg["seed"], "max_length": 1024, "packing": cfg["packing"]}
    with core.db.session() as session:
        job = create_job(session, base, options, spec, built, name="bench")
    out = subprocess.run(worker_command(job.run_dir), capture_output=True, text=True, env=child_env(), timeout=3600)
    events = list(read_events(job.run_dir))
    if out.returncode != 0 or not events or events[-1]["event"] != "done":
        raise RuntimeError(f"the Hearth worker failed:\n{out.stderr[-3000:]}")
    first_eval = next(e for e in events if e["event"] == "eval")
    steps = [e for e in events if e["event"] == "step"]
    return {"tokens": sum(e["tokens"] for e in steps), "seconds": steps[-1]["t"] - first_eval["t"]}


def main(steps: int = 24, batch: int = 8, examples: int = 96) -> int:
    os.environ.setdefault("HEARTH_HOME", tempfile.mkdtemp(prefix="hearth-bench-"))
    from app import paths
    from app.core.library.registry import default_model
    from app.core.startup import open_core

    core = open_core()
    workdir = Path(tempfile.mkdtemp(prefix="hearth-train-bench-"))
    data = workdir / "chats.jsonl"
    data.write_text("\n".join(json.dumps(c) for c in synthetic_chats(examples)) + "\n", encoding="utf-8")
    with core.db.session() as session:
        base = default_model(session)
    print(f"Preparing the plain copy of {base.name} (once)…", file=sys.stderr)
    plain = _plain_copy_in_child(Path(base.path), paths.cache_dir())
    cfg = {"steps": steps, "batch": batch, "lr": 2e-4, "rank": 16, "alpha": 32, "seed": 7, "packing": False}
    runs = {}
    for label, packing in (("Hearth, grouped by length", False), ("Hearth, grouped and packed", True)):
        print(f"{label}: {steps} steps of {batch} chats…", file=sys.stderr)
        runs[label] = _run_hearth(data, {**cfg, "packing": packing}, core)
    print(f"Plain transformers + peft Trainer: {steps} steps of {batch} chats…", file=sys.stderr)
    runs["plain Trainer script"] = plain_result = _run_plain(plain, data, cfg, workdir)
    core.db.close()
    p_tps = plain_result["tokens"] / plain_result["seconds"]
    print(f"Hearth training benchmark · {base.name} · LoRA r16 all-linear · batch {batch} · {steps} steps · "
          f"{examples} chats of mixed length")
    for label, run in runs.items():
        tps = run["tokens"] / run["seconds"]
        print(f"  {label:<28} {tps:8.1f} tokens/s  ({run['tokens']} tokens in {run['seconds']:.1f} s, "
              f"{run['seconds'] / steps:.2f} s/step)  ratio vs plain {tps / p_tps:5.2f}")
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


