"""The training child: `python -m app train-worker JOB.json`. Reads the job file the app wrote, trains a LoRA
adapter, and reports through the JSON-lines protocol (events.py) on stdout and in the run folder.

The loop is plain PyTorch rather than transformers' Trainer: batches are grouped by length (little padding), the
loss is averaged over the reply tokens of the whole accumulated step, checkpoints hold everything needed to resume
(adapter, optimiser, scheduler, step), and nothing prints to stdout but events. On a CPU that computes bfloat16
natively, the frozen base runs in bfloat16 mixed precision (precision.py); the adapter always trains in float32.

With preferences (objective "auto"), each optimiser step's loss is the SFT loss over the next SFT batch plus the
preference loss (preference_loss.py) over the next batch of preference units, each source cycling on its own
epochs. Both signals reach every step, so the loss curve does not jump between objectives from step to step, and
the larger source sets the epoch length, so every record is seen at least once per epoch. The reference model is
this model with the adapter switched off; it never changes, so its log-probs are computed once per record.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
import traceback
from pathlib import Path

from app.core.training import precision, preference_units
from app.core.training.batches import collate, collate_packed, epoch_order, steps_per_epoch
from app.core.training.dataset import DatasetError, read_jsonl_items
from app.core.training.events import EventWriter
from app.core.training.preference_loss import PreferenceScore, dpo_losses, score, sequence_logps, undesirable_losses
from app.core.training.tokenizer import IGNORE, TrainingTokenizer
from app.core.units import MB

CHECKPOINTS = "checkpoints"
WARMUP_SHARE = 0.05


class JobFailed(RuntimeError):
    """A failure with a message for a person (and no stack trace needed)."""


def _memory_mb(device: str) -> float:
    """Peak memory in decimal megabytes (10^6 bytes), the unit every size in Hearth is shown in."""
    if device == "cuda":
        import torch

        return torch.cuda.max_memory_allocated() / MB
    import psutil

    return psutil.Process().memory_info().rss / MB


def _lr_lambda(schedule: str, total: int):
    warmup = max(1, round(total * WARMUP_SHARE)) if total > 20 else 0

    def factor(step: int) -> float:
        if warmup and step < warmup:
            return (step + 1) / warmup
        if schedule == "constant":
            return 1.0
        progress = (step - warmup) / max(1, total - warmup)
        if schedule == "linear":
            return max(0.0, 1.0 - progress)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return factor


class Run:
    def __init__(self, job_path: Path, events: EventWriter):
        self.job = json.loads(Path(job_path).read_text(encoding="utf-8"))
        self.run_dir = Path(self.job["run_dir"])
        self.options = self.job["options"]
        self.events = events

    def log(self, message: str) -> None:
        self.events.emit("log", message=message)

    # -- set-up ---------------------------------------------------------------------------------------------
    def prepare(self) -> None:
        import torch

        from app.core.training import base_model

        torch.manual_seed(self.options["seed"])
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        if self.device == "cpu":
            import psutil

            torch.set_num_threads(max(1, psutil.cpu_count(logical=False) or 1))
        from app.core.training.yielding import ChatCourtesy

        self.courtesy = ChatCourtesy(torch.get_num_threads())  # gives way to chat replies (yielding.py)
        self.courtesy.start()
        base = self.job["base"]
        path = Path(base["path"])
        if not path.exists():
            raise JobFailed(f"The base model {base['name']} is no longer at {path}.")
        self.tokenizer = TrainingTokenizer.for_model(path, base["format"])
        max_length = self.options["max_length"]
        try:
            self.train_items = self._read_examples("train_file", max_length)
            self.eval_items = self._read_examples("eval_file", max_length)
        except DatasetError as exc:
            raise JobFailed(str(exc)) from exc
        self.read_preferences(max_length)
        if not self.train_items and not self.units:
            raise JobFailed("The dataset has no training examples and no preferences.")
        self.eval_items = self.eval_items or self.train_items or self._fallback_eval_items()
        method = self.options["method"]
        if method == "qlora":
            usable, why = base_model.qlora_support()
            if not usable:
                self.log(why)
                method = "lora"
        self.method = method
        self.precision, why = precision.choose(self.options.get("precision", "auto"), self.device, method)
        if why:
            self.log(why)
        folder = base_model.plain_copy(path, Path(self.job["cache_dir"]), self.log) if base["format"] == "gguf" else path
        self.log(f"Loading {base['name']} for {method.upper()} on {self.device}…")
        model = base_model.load_for_training(folder, method, self.device, self.precision)
        model.config.use_cache = False
        self.model = base_model.add_adapter(model, self.options)
        precision.prepare_adapter(self.model, self.precision)
        self.pad_id = self.tokenizer.bos_id if self.tokenizer.bos_id is not None else 0
        self.lengths = [len(e.input_ids) for e in self.train_items]
        self.unit_lengths = [u.length for u in self.units]
        batch, accum = self.options["batch_size"], self.options["grad_accum"]
        self.sft_per_epoch = steps_per_epoch(len(self.train_items), batch, accum) if self.train_items else 0
        self.pref_per_epoch = steps_per_epoch(len(self.units), batch, accum) if self.units else 0
        self.per_epoch = max(self.sft_per_epoch, self.pref_per_epoch)
        self.total = self.options["max_steps"] or self.options["epochs"] * self.per_epoch
        if self.options["packing"] and not self.packing_works():
            self.log("This model's attention cannot keep packed examples apart; training without packing.")
            self.options["packing"] = False
        params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(params, lr=self.options["learning_rate"], weight_decay=0.0)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, _lr_lambda(self.options["lr_schedule"], self.total))

    def _read_examples(self, key: str, max_length: int) -> list:
        """A run folder's SFT examples; an empty or missing file (a job with only preferences) has none."""
        path = self.run_dir / self.job[key] if self.job.get(key) else None
        if path is None or not path.exists() or not path.read_text(encoding="utf-8").strip():
            return []
        return read_jsonl_items(path, self.tokenizer, max_length)

    def read_preferences(self, max_length: int) -> None:
        """The run folder's preference files (none for objective "sft", or a job that names none). Lone thumbs-up
        replies join the examples to imitate; held-out pairs measure preference accuracy."""
        use = self.options.get("objective", "auto") == "auto"

        def load(key: str) -> preference_units.PreferenceData:
            name = self.job.get(key)
            return preference_units.load(self.run_dir / name if use and name else None, self.tokenizer, max_length)

        train, held_out = load("prefs_file"), load("eval_prefs_file")
        self.train_items += preference_units.new_examples(train.desirable, self.train_items)
        self.eval_items += preference_units.new_examples(held_out.desirable, self.eval_items)
        self.units = train.units
        self.held_out = [u for u in held_out.units if u.is_pair]
        self.reference: list[tuple[float, ...]] = []
        if train.units or held_out.units:
            self.log(f"Preferences: {train.pairs} pairs and {train.undesirable} lone thumbs-down to learn from, "
                     f"{len(self.held_out)} held-out pairs to measure preference accuracy.")

    def _fallback_eval_items(self) -> list:
        """Only preferences: the held-out loss is measured on the preferred replies, or, with only thumbs-down
        replies, on those (then a rising loss is the aim)."""
        preferred = [u.sequences[0] for u in (self.held_out or self.units) if u.is_pair]
        preferred = preferred or [u.sequences[0] for u in self.units if u.is_pair]
        if preferred:
            self.log("No examples to imitate: the held-out loss is measured on the preferred replies.")
            return preferred
        self.log("Only thumbs-down replies: the held-out loss is measured on them, and should rise.")
        return [u.sequences[0] for u in self.units]

    # -- loss -----------------------------------------------------------------------------------------------
    def _inputs(self, batch) -> tuple[dict, object]:
        """The model's keyword arguments and the labels. A packed batch has position ids and no attention mask,
        which is what makes transformers keep each example's attention within the example."""
        import torch

        ids, labels = torch.tensor(batch.input_ids, device=self.device), torch.tensor(batch.labels, device=self.device)
        if batch.position_ids is not None:
            return {"input_ids": ids, "position_ids": torch.tensor(batch.position_ids, device=self.device)}, labels
        return {"input_ids": ids, "attention_mask": torch.tensor(batch.attention, device=self.device)}, labels

    def _reply_logits(self, batch):
        """The logits at the reply tokens' positions, their targets, and which positions those are.

        The output layer runs only where there is something to learn: for a small model its vocabulary-wide
        logits are a large share of the compute, and by far the largest tensor, while the prompt's positions
        carry no loss. Models whose logits need more than the output layer (soft-capping) take the long way.
        """
        inputs, labels = self._inputs(batch)
        targets = labels[:, 1:]
        keep = targets != IGNORE
        base = self.model.get_base_model()
        body, head = getattr(base, "model", None), getattr(base, "lm_head", None)
        with precision.autocast(self.device, self.precision):
            if body is None or head is None or getattr(base.config, "final_logit_softcapping", None):
                return self.model(**inputs).logits[:, :-1, :][keep].float(), targets[keep], keep
            hidden = body(**inputs).last_hidden_state[:, :-1, :]
            return head(hidden[keep]).float(), targets[keep], keep

    def _loss_sum(self, batch):
        """Summed cross-entropy over the reply tokens, and how many there were."""
        import torch.nn.functional as F

        logits, targets, keep = self._reply_logits(batch)
        return F.cross_entropy(logits, targets, reduction="sum"), int(keep.sum())

    def _sequence_logps(self, batch):
        """Each row's log-probability of its reply, summed over the reply's tokens."""
        import torch.nn.functional as F

        logits, targets, keep = self._reply_logits(batch)
        token_logps = -F.cross_entropy(logits, targets, reduction="none")
        return sequence_logps(token_logps, keep.nonzero()[:, 0], keep.size(0))

    def _preference_loss_sum(self, units: preference_units.UnitBatch):
        """The summed preference loss of a micro-batch's units (DPO per pair, KTO per lone thumbs-down)."""
        import torch

        logps = self._sequence_logps(units.batch)
        beta = self.options["preference_beta"]

        def ref(indices: list[int], which: int):
            return torch.tensor([self.reference[i][which] for i in indices], device=logps.device)

        def rows(indices: list[int]):
            return torch.tensor(indices, device=logps.device)

        total = logps.new_zeros(())
        if units.chosen:
            total = total + dpo_losses(logps[rows(units.chosen)], logps[rows(units.rejected)],
                                       ref(units.pair_units, 0), ref(units.pair_units, 1), beta).sum()
        if units.undesirable:
            total = total + undesirable_losses(logps[rows(units.undesirable)], ref(units.undesirable_units, 0),
                                               beta).sum()
        return total

    def unit_logps(self, units: list, base: bool) -> list[tuple[float, ...]]:
        """Each unit's sequences' log-probs, without gradients: under the base model (the adapter switched off,
        the reference) or under the adapter. Batched by length, so little goes to padding."""
        import contextlib

        import torch

        found: list[tuple[float, ...]] = [()] * len(units)
        order = sorted(range(len(units)), key=lambda i: units[i].length)
        size = self.options["batch_size"]
        self._eval_mode()
        try:
            with self.model.disable_adapter() if base else contextlib.nullcontext(), torch.no_grad():
                for start in range(0, len(order), size):
                    self.courtesy.between_batches()
                    chunk = order[start : start + size]
                    logps = self._sequence_logps(preference_units.collate_units(chunk, units, self.pad_id).batch)
                    logps, at = logps.tolist(), 0
                    for i in chunk:
                        found[i] = tuple(logps[at : at + len(units[i].sequences)])
                        at += len(units[i].sequences)
        finally:
            self.model.train()
        return found

    def preference_score(self, base: bool = False) -> PreferenceScore:
        logps = self.unit_logps(self.held_out, base)
        return score([p[0] for p in logps], [p[1] for p in logps])

    def _collate(self, items):
        if self.options["packing"]:
            return collate_packed(items, self.pad_id, self.options["max_length"])
        return collate(items, self.pad_id)

    def _eval_mode(self) -> None:
        self.model.eval()
        if self.method == "qlora" and self.device == "cpu":
            # bitsandbytes repacks a 4-bit layer's weights for fast CPU inference the first time it runs in eval
            # mode without gradients; after that, backward no longer reaches the adapters and the loss stays
            # flat (measured: 4.21 -> 2.30 in 20 steps, against 4.17 -> 0.14 by step 5 without the repack).
            for module in self.model.modules():
                if type(module).__name__ == "Linear4bit":
                    module.training = True

    def packing_works(self) -> bool:
        """Does this model keep packed examples apart? One short example alone and after a copy of itself must
        give the same hidden states; models whose attention ignores position-id packing would mix them."""
        import torch

        body = getattr(self.model.get_base_model(), "model", None)
        if body is None:
            return False
        ids = (self.train_items[0] if self.train_items else self.units[0].sequences[0]).input_ids[:16]
        n = len(ids)
        self._eval_mode()
        try:
            with torch.no_grad(), precision.autocast(self.device, self.precision):
                alone = body(input_ids=torch.tensor([ids], device=self.device)).last_hidden_state[0]
                packed = body(input_ids=torch.tensor([ids + ids], device=self.device),
                              position_ids=torch.tensor([list(range(n)) * 2], device=self.device)).last_hidden_state[0, n:]
        except Exception:  # noqa: BLE001 - an architecture that refuses position ids cannot pack
            return False
        finally:
            self.model.train()
        alone, packed = alone.float(), packed.float()
        return float((alone - packed).abs().max() / alone.abs().max().clamp_min(1e-6)) < 0.02

    def evaluate(self) -> float:
        import torch

        self._eval_mode()
        total, count = 0.0, 0
        with torch.no_grad():
            for start in range(0, len(self.eval_items), self.options["batch_size"]):
                self.courtesy.between_batches()
                batch = collate(self.eval_items[start : start + self.options["batch_size"]], self.pad_id)
                loss, n = self._loss_sum(batch)
                total, count = total + float(loss), count + n
        self.model.train()
        return total / max(1, count)

    # -- checkpoints ----------------------------------------------------------------------------------------
    def save_checkpoint(self, step: int) -> Path:
        import torch

        folder = self.run_dir / CHECKPOINTS / f"step-{step:06d}"
        partial = folder.with_name(folder.name + ".partial")
        self.model.save_pretrained(partial)
        torch.save({"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(), "step": step,
                    "rng": torch.get_rng_state(), "eval_loss_before": self.eval_before},
                   partial / "trainer_state.pt")
        partial.rename(folder)  # a checkpoint exists only once it is complete
        return folder

    def latest_checkpoint(self) -> Path | None:
        root = self.run_dir / CHECKPOINTS
        found = sorted(p for p in root.glob("step-*") if not p.name.endswith(".partial")) if root.is_dir() else []
        return found[-1] if found else None

    def restore(self, folder: Path) -> int:
        import torch
        from peft import set_peft_model_state_dict
        from safetensors.torch import load_file

        set_peft_model_state_dict(self.model, load_file(str(folder / "adapter_model.safetensors")))
        state = torch.load(folder / "trainer_state.pt", weights_only=False)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"])
        self.eval_before = state.get("eval_loss_before")
        return int(state["step"])

    # -- the loop -------------------------------------------------------------------------------------------
    def _chunk(self, step: int, n: int, per_epoch: int, lengths: list[int]) -> list[list[int]]:
        """The micro-batches (indices) a source gives to `step`: a pure function of the step, so a resumed run
        takes exactly the batches it would have taken; a source smaller than the epoch starts over."""
        opts = self.options
        epoch, in_epoch = divmod(step, per_epoch)
        order = epoch_order(n, opts["batch_size"], opts["seed"], epoch, opts["group_by_length"], lengths)
        return order[in_epoch * opts["grad_accum"] : (in_epoch + 1) * opts["grad_accum"]]

    def _evaluation(self, step: int, base: bool = False) -> tuple[float, PreferenceScore]:
        """The held-out loss, and preference accuracy on held-out pairs (of the base model before training)."""
        loss = self.evaluate()
        pref = self.preference_score(base) if self.held_out else score([], [])
        self.events.emit("eval", step=step, eval_loss=loss,
                         **({"pref_accuracy": pref.accuracy, "pref_margin": pref.margin} if self.held_out else {}))
        return loss, pref

    def train(self, resume: bool) -> None:
        opts = self.options
        step, self.eval_before = 0, None
        checkpoint = self.latest_checkpoint() if resume else None
        if checkpoint is not None:
            step = self.restore(checkpoint)
        self.events.emit("started", total_steps=self.total, examples=len(self.train_items), device=self.device,
                         method=self.method, precision=self.precision, eval_examples=len(self.eval_items),
                         resumed_from=step or None,
                         pairs=sum(u.is_pair for u in self.units), unpaired_down=sum(not u.is_pair for u in self.units),
                         eval_pairs=len(self.held_out))
        if self.eval_before is None:
            self.eval_before, self.pref_before = self._evaluation(0, base=True)
        else:
            self.pref_before = self.preference_score(base=True) if self.held_out else score([], [])
        started, first_step = time.perf_counter(), step
        if self.units:  # inside the timed stretch: a trainer that runs the reference every step pays for it there
            self.reference = self.unit_logps(self.units, base=True)
        self.model.train()
        while step < self.total:
            sft = [self._collate([self.train_items[i] for i in ids])
                   for ids in (self._chunk(step, len(self.train_items), self.sft_per_epoch, self.lengths)
                               if self.train_items else [])]
            prefs = [preference_units.collate_units(ids, self.units, self.pad_id)
                     for ids in (self._chunk(step, len(self.units), self.pref_per_epoch, self.unit_lengths)
                                 if self.units else [])]
            trained = sum(b.trained_tokens for b in sft) or 1
            weighed = sum(len(u.chosen) + len(u.undesirable) for u in prefs) or 1
            step_started, sft_total, pref_total = time.perf_counter(), 0.0, 0.0
            for i in range(max(len(sft), len(prefs))):
                self.courtesy.between_batches()
                if i < len(sft):
                    loss, _n = self._loss_sum(sft[i])
                    (loss / trained).backward()
                    sft_total += float(loss.detach())
                if i < len(prefs):
                    loss = self._preference_loss_sum(prefs[i])
                    (loss / weighed).backward()
                    pref_total += float(loss.detach())
            self.optimizer.step()
            self.scheduler.step()
            self.optimizer.zero_grad(set_to_none=True)
            step += 1
            real = sum(b.real_tokens for b in sft) + sum(u.batch.real_tokens for u in prefs)
            per_step = (time.perf_counter() - started) / (step - first_step)
            sft_loss, pref_loss = sft_total / trained, pref_total / weighed
            parts = {}
            if self.units:  # the two parts of the total, for a person reading the curve
                parts = {"sft_loss": round(sft_loss, 5) if sft else None, "pref_loss": round(pref_loss, 5)}
            self.events.emit(
                "step", step=step, loss=round(sft_loss + pref_loss, 5), **parts, lr=self.scheduler.get_last_lr()[0],
                epoch=round(step / self.per_epoch, 3), tokens=real,
                tokens_per_s=round(real / (time.perf_counter() - step_started), 1),
                mem_mb=round(_memory_mb(self.device)), eta_s=round(per_step * (self.total - step), 1),
            )
            if opts["eval_every"] and step % opts["eval_every"] == 0 and step < self.total:
                self._evaluation(step)
            if opts["checkpoint_every"] and step % opts["checkpoint_every"] == 0 and step < self.total:
                self.events.emit("checkpoint", step=step, path=str(self.save_checkpoint(step)))
        eval_after, pref_after = self._evaluation(step)
        self.finish(step, eval_after, pref_after)

    def finish(self, step: int, eval_after: float, pref_after: PreferenceScore) -> None:
        adapter_dir = self.run_dir / "adapter"
        self.model.save_pretrained(adapter_dir)
        gguf_path = None
        base = self.job["base"]
        if base["format"] == "gguf":
            from app.core.training.lora_gguf import convert_adapter

            info = base.get("info") or {}
            gguf_path = convert_adapter(adapter_dir, self.run_dir / "adapter.gguf", architecture=info.get("architecture", "llama"),
                                        n_layers=info["layers"], n_head=info["n_head"],
                                        n_head_kv=info.get("n_head_kv") or info["n_head"])
        self.events.emit("done", adapter_dir=str(adapter_dir), gguf_adapter=str(gguf_path) if gguf_path else None,
                         eval_loss_before=self.eval_before, eval_loss_after=eval_after, steps=step,
                         pref_pairs=pref_after.pairs, pref_accuracy_before=self.pref_before.accuracy,
                         pref_accuracy_after=pref_after.accuracy, pref_margin_before=self.pref_before.margin,
                         pref_margin_after=pref_after.margin)


def _detach_output(run_dir: Path) -> None:
    """Started detached by the window: stdout goes nowhere (the events file carries the same lines) and stderr
    to the run's log, at the file-descriptor level so native libraries' output lands there too."""
    null = os.open(os.devnull, os.O_WRONLY)
    log = os.open(run_dir / "stderr.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(null, 1)
    os.dup2(log, 2)
    os.close(null)
    os.close(log)


def _end_with(pid: int, events: EventWriter) -> None:
    """Tie this job to the process that started it: once that one has ended, record why and stop at once."""
    from app.core.training.parent_watch import watch_parent

    def gone() -> None:
        events.emit("error", message=f"The Hearth process that started this job (pid {pid}) ended, so the job "
                    "stopped with it. Resume it to continue from the last checkpoint.", detail="")
        events.close()
        os._exit(3)  # from the watcher thread: the training loop cannot be interrupted politely mid-step

    watch_parent(pid, gone)


def main(job_path: str, resume: bool = False, detached: bool = False, end_with: int | None = None) -> int:
    job_path = Path(job_path)
    run_dir = Path(json.loads(job_path.read_text(encoding="utf-8"))["run_dir"])
    if detached:
        _detach_output(run_dir)
    events = EventWriter(run_dir)
    stdout, sys.stdout = sys.stdout, sys.stderr  # libraries that print go to the log, never into the protocol
    events.stream = stdout
    if end_with:
        _end_with(end_with, events)
    try:
        run = Run(job_path, events)
        run.prepare()
        run.train(resume)
        return 0
    except JobFailed as exc:
        events.emit("error", message=str(exc), detail="")
        return 1
    except MemoryError as exc:
        events.emit("error", message="Training ran out of memory. Lower the batch size or the maximum length, "
                    "or use QLoRA.", detail=repr(exc))
        return 1
    except Exception as exc:  # noqa: BLE001 - anything else is reported with its trace for a bug report
        name = type(exc).__name__
        if name == "OutOfMemoryError":
            events.emit("error", message="The GPU ran out of memory. Lower the batch size or the maximum length, "
                        "or use QLoRA.", detail=repr(exc))
        else:
            events.emit("error", message=f"Training failed: {name}: {exc}", detail=traceback.format_exc()[-4000:])
        return 1
    finally:
        events.close()
