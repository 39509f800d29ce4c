"""TRL's `DPOTrainer` on the pairs Hearth trains on: the yardstick for Hearth's preference loss (the parity test)
and its speed (`hearth bench train`). Runs as a child, `python -m app.bench.trl_dpo CONFIG.json`, and prints one
JSON line: each step's loss, the real tokens it saw, and the seconds of the training loop.

What is held equal to Hearth's worker, so that the losses can match step by step:
- the token ids: TRL gets Hearth's own tokens (prompt, chosen and rejected ids, cut where Hearth's labels start),
  instead of re-tokenizing text with another tokenizer;
- the model and its adapter: the same plain copy, loaded and given its LoRA adapter by Hearth's own functions after
  the same seed, so the adapter starts from the same random matrices;
- the optimiser: AdamW without weight decay, a constant learning rate without warm-up, full fp32 (TRL's config
  defaults to bf16 and gradient checkpointing), and no gradient clipping (Hearth's loop does not clip);
- the loss: sigmoid DPO, log-probs summed over the reply tokens (TRL's default), the reference being the model
  with its adapter switched off.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def tokenized_pairs(pairs: list, tokenizer, max_length: int) -> list[dict]:
    """Hearth's tokens of each pair, as TRL's preference collator takes them: the shared prompt, then each reply
    (everything from the first labelled token on; Hearth's labels cover the reply and its end-of-turn marker)."""
    from app.core.training.preferences import encode
    from app.core.training.tokenizer import IGNORE

    rows = []
    for pair in pairs:
        encoded = encode(pair, tokenizer, max_length)
        chosen, rejected = encoded.chosen, encoded.rejected
        start = next(i for i, label in enumerate(chosen.labels) if label != IGNORE)
        if rejected.input_ids[:start] != chosen.input_ids[:start] or rejected.labels[start] == IGNORE:
            raise ValueError("the chosen and rejected replies do not share their prompt's tokens")
        if any(label == IGNORE for e in (chosen, rejected) for label in e.labels[start:]):
            raise ValueError("a reply has unlabelled tokens after its start")
        rows.append({"prompt_ids": chosen.input_ids[:start], "chosen_ids": chosen.input_ids[start:],
                     "rejected_ids": rejected.input_ids[start:]})
    return rows


def run(cfg: dict) -> dict:
    import psutil
    import torch
    from datasets import Dataset
    from transformers import AutoTokenizer, TrainerCallback
    from trl import DPOConfig, DPOTrainer
    from trl.trainer.dpo_trainer import DataCollatorForPreference

    from app.core.training import base_model

    torch.set_num_threads(max(1, psutil.cpu_count(logical=False) or 1))
    torch.manual_seed(cfg["seed"])
    model = base_model.load_for_training(Path(cfg["base"]), "lora", "cpu")
    model.config.use_cache = False
    model = base_model.add_adapter(model, {"lora_rank": cfg["rank"], "lora_alpha": cfg["alpha"], "lora_dropout": 0.0,
                                           "target_modules": cfg.get("target_modules", "all-linear")})
    tokenizer = AutoTokenizer.from_pretrained(cfg["base"])
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    rows = [{"prompt_ids": p["prompt_ids"], "chosen_ids": p["chosen_ids"], "rejected_ids": p["rejected_ids"]}
            for p in cfg["pairs"]]
    seen = {"losses": [], "tokens": 0}

    class Tokenized(DPOTrainer):
        """TRL as is, except that the rows arrive already tokenized (by Hearth's tokenizer)."""

        def _prepare_dataset(self, dataset, processing_class, args, dataset_name):
            return dataset

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            loss = super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            seen["losses"].append(float(loss.detach()))
            return loss

    collator = DataCollatorForPreference(pad_token_id=tokenizer.pad_token_id)

    def collate(examples):
        batch = collator(examples)
        seen["tokens"] += int(batch["attention_mask"].sum())
        return batch

    class Clock(TrainerCallback):
        """The training loop only, as for the other variants: from the first step to the end."""

        def on_step_begin(self, args, state, control, **kw):
            seen.setdefault("start", time.perf_counter())

        def on_train_end(self, args, state, control, **kw):
            seen["end"] = time.perf_counter()

    args = DPOConfig(
        output_dir=cfg["out"], per_device_train_batch_size=cfg["batch"], max_steps=cfg["steps"],
        learning_rate=cfg["lr"], lr_scheduler_type="constant", warmup_steps=0, weight_decay=0.0, max_grad_norm=0.0,
        beta=cfg["beta"], loss_type=["sigmoid"], bf16=False, fp16=False, gradient_checkpointing=False,
        use_cpu=True, seed=cfg["seed"], data_seed=cfg["seed"], logging_steps=10**6, save_strategy="no", report_to=[],
        dataloader_num_workers=0, disable_tqdm=True, max_length=None,
    )
    trainer = Tokenized(model=model, ref_model=None, args=args, train_dataset=Dataset.from_list(rows),
                        processing_class=tokenizer, data_collator=collate, callbacks=[Clock()])
    trainer.train()
    return {"losses": seen["losses"], "tokens": seen["tokens"], "seconds": seen["end"] - seen["start"]}


def main(argv: list[str]) -> int:
    cfg = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    result = run(cfg)
    print(json.dumps(result), file=sys.__stdout__, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
