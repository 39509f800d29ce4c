"""The preference objective's math, and preference accuracy on held-out pairs.

- Pairs: DPO's sigmoid loss, -log sigmoid(beta * ((c - c_ref) - (r - r_ref))), where c and r are the log-probs of
  the chosen and rejected reply summed over their tokens (TRL's `DPOTrainer` with `loss_type="sigmoid"` sums the
  same way). It is ln 2 while the adapter still equals the reference.
- A lone thumbs-down: KTO with the reference point at zero (TRL's `apo_zero_unpaired`), sigma(beta * (x - x_ref)):
  0.5 at the start, and it falls as the adapter makes the reply less likely than the base found it.

Tensors come from the worker; torch is imported only where the math runs (the window never loads it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

LN2 = math.log(2.0)


def sequence_logps(token_logps, rows, n_rows: int):
    """Per-sequence sums of the reply tokens' log-probs: `token_logps[k]` belongs to sequence `rows[k]`."""
    import torch

    return torch.zeros(n_rows, dtype=token_logps.dtype, device=token_logps.device).index_add(0, rows, token_logps)


def dpo_losses(chosen, rejected, ref_chosen, ref_rejected, beta: float):
    """One loss per pair (a tensor of pairs)."""
    import torch.nn.functional as F

    return -F.logsigmoid(beta * ((chosen - ref_chosen) - (rejected - ref_rejected)))


def undesirable_losses(logps, ref_logps, beta: float):
    """One loss per lone thumbs-down: how much likelier (in sigmoid terms) the adapter makes it than the base."""
    import torch

    return torch.sigmoid(beta * (logps - ref_logps))


@dataclass(frozen=True)
class PreferenceScore:
    """How often, and by how much, a model gives the preferred reply the higher log-probability."""

    pairs: int
    accuracy: float | None  # share of pairs with logp(chosen) > logp(rejected); None without pairs
    margin: float | None  # mean of logp(chosen) - logp(rejected), in nats summed over each reply


def score(chosen: Sequence[float], rejected: Sequence[float]) -> PreferenceScore:
    if not chosen:
        return PreferenceScore(0, None, None)
    margins = [c - r for c, r in zip(chosen, rejected, strict=True)]
    return PreferenceScore(len(margins), sum(m > 0 for m in margins) / len(margins), sum(margins) / len(margins))
