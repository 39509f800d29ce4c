"""Preference records as the training loop uses them: encoded, with the base model's log-probs beside them.

A unit is what one preference loss term needs: a pair (chosen and rejected sequences) or a lone thumbs-down (one
sequence). A micro-batch lays all of its units' sequences side by side in one padded batch, so the policy's
log-probs of a pair's two replies come from one forward pass. A lone thumbs-up is an example to imitate, so it
joins the SFT examples instead (once: the app may also have written it to the SFT file).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from app.core.training.batches import Batch, collate
from app.core.training.preferences import EncodedPair, encode, read_preferences
from app.core.training.tokenizer import Encoded, TrainingTokenizer


@dataclass(frozen=True)
class Unit:
    sequences: tuple[Encoded, ...]  # (chosen, rejected) for a pair, (reply,) for a lone thumbs-down

    @property
    def is_pair(self) -> bool:
        return len(self.sequences) == 2

    @property
    def length(self) -> int:
        return max(len(s.input_ids) for s in self.sequences)


@dataclass
class PreferenceData:
    units: list[Unit]
    desirable: list[Encoded]  # lone thumbs-up: imitated like SFT examples

    @property
    def pairs(self) -> int:
        return sum(u.is_pair for u in self.units)

    @property
    def undesirable(self) -> int:
        return len(self.units) - self.pairs


def load(path: Path | None, tokenizer: TrainingTokenizer, max_length: int) -> PreferenceData:
    """A run folder's preference file (none when the job names none or the file is missing). A record whose reply
    was cut away entirely, or a pair whose two replies are the same tokens, carries no preference and is left out."""
    units, desirable = [], []
    for record in read_preferences(path) if path is not None else []:
        encoded = encode(record, tokenizer, max_length)
        if isinstance(encoded, EncodedPair):
            if encoded.chosen.trained and encoded.rejected.trained and encoded.chosen != encoded.rejected:
                units.append(Unit((encoded.chosen, encoded.rejected)))
        elif encoded.encoded.trained:
            if encoded.desirable:
                desirable.append(encoded.encoded)
            else:
                units.append(Unit((encoded.encoded,)))
    return PreferenceData(units, desirable)


def new_examples(desirable: Sequence[Encoded], sft: Sequence[Encoded]) -> list[Encoded]:
    """Lone thumbs-up replies that are not already among the SFT examples."""
    seen = {tuple(e.input_ids) for e in sft}
    fresh = []
    for e in desirable:
        if tuple(e.input_ids) not in seen:
            seen.add(tuple(e.input_ids))
            fresh.append(e)
    return fresh


@dataclass(frozen=True)
class UnitBatch:
    batch: Batch  # every sequence of the units, in order
    chosen: list[int]  # row of each pair's chosen reply
    rejected: list[int]  # row of each pair's rejected reply
    undesirable: list[int]  # row of each lone thumbs-down
    pair_units: list[int]  # the unit index of each pair (for its reference log-probs)
    undesirable_units: list[int]


def collate_units(indices: Sequence[int], units: Sequence[Unit], pad_id: int) -> UnitBatch:
    sequences, chosen, rejected, undesirable, pair_units, down_units = [], [], [], [], [], []
    for i in indices:
        unit = units[i]
        if unit.is_pair:
            chosen.append(len(sequences))
            rejected.append(len(sequences) + 1)
            pair_units.append(i)
        else:
            undesirable.append(len(sequences))
            down_units.append(i)
        sequences += unit.sequences
    return UnitBatch(collate(sequences, pad_id), chosen, rejected, undesirable, pair_units, down_units)
