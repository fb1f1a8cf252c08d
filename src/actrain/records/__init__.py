"""Typed records: what one run step writes as JSON lines and a later one reads back.

- `Trajectory` (of `Step`s): `trajectories/*.jsonl`, `hard/trajectories.jsonl` (expert paths, or
  an exploring oracle's, `data/offpath.py`).
- `Pair`: `pairs/*.jsonl`, `hard/pairs.jsonl`; also a K-way item (`data/kway.py`, with
  `alternatives`) and a training row in a given shown order. `actrain.pair` and the pairs step
  build it with the one constructor, `Pair.make`.
- `Outcome`: `outcomes/train.jsonl`, where both actions of a pair led (Early Experience branching).
- `Rationale`: `rationales/train.jsonl`, a teacher's reflection over one state's outcomes.
- `NextActionRecord`: `agent/*.next_action.jsonl`, the agent's action at one held-out state.
- `CriticPrediction`: `critic/*.predictions.jsonl`, a critic's pick on one shown pair.
- `EpisodeRecord` (of `Turn`s): `agent/*.episodes.jsonl`, one rollout.

`Record.from_json(d)` checks every field (a missing or wrongly typed one is one `ActrainError`
line naming it) and `to_json()` gives back exactly `d`: the same keys in the same order, optional
keys only where `d` had them, and keys a record does not know kept as they were (`extra`). So
files written from records are byte for byte what the dict-writing code wrote, and a run folder
keeps its fingerprints.

Only the standard library and `actrain.errors` are imported here, so every part of actrain may
use these records.
"""

from __future__ import annotations

from actrain.records.evaluations import CriticPrediction, EpisodeRecord, NextActionRecord, Turn
from actrain.records.fields import Record, RecordError
from actrain.records.pairs import Outcome, Pair, PairedState, Rationale
from actrain.records.trajectories import Step, Trajectory

__all__ = [
    "CriticPrediction",
    "EpisodeRecord",
    "NextActionRecord",
    "Outcome",
    "Pair",
    "PairedState",
    "Rationale",
    "Record",
    "RecordError",
    "Step",
    "Trajectory",
    "Turn",
]
