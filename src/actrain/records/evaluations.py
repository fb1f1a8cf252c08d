"""What evaluations record per item: an agent's `NextActionRecord` at a held-out state, a
critic's `CriticPrediction` on a shown pair, and an `EpisodeRecord` of `Turn`s."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from actrain.records.fields import (
    BOOL,
    INT,
    INT_OR_NULL,
    NUMBER,
    STR,
    STR_LIST,
    STR_OR_NULL,
    Record,
    _opt,
    _record_list,
    _req,
)
from actrain.records.pairs import Pair


@dataclass(frozen=True, kw_only=True)
class NextActionRecord(Record):
    """The agent's action at one held-out expert state (`eval/next_action.py`): `action` None
    when its answer was malformed."""

    KIND: ClassVar[str] = "next-action"

    split: str = _req(STR)
    task: str = _req(STR)
    step: int = _req(INT)
    expert_action: str = _req(STR)
    action: str | None = _req(STR_OR_NULL)
    correct: bool = _req(BOOL)
    malformed: bool | None = _opt(BOOL)
    truncated: bool | None = _opt(BOOL)
    completion: str | None = _opt(STR)

    @property
    def state_key(self) -> tuple[str, int]:
        return (self.task, self.step)


@dataclass(frozen=True, kw_only=True)
class CriticPrediction(Record):
    """A critic's pick on one shown pair (or K-way item): `picked` None when its answer was
    malformed; `sample` the evaluation run, when there were several."""

    KIND: ClassVar[str] = "critic prediction"

    task: str | None = _opt(STR)
    step: int | None = _opt(INT)
    actions: list[str] = _req(STR_LIST)
    label: int = _req(INT)
    expert_first: bool = _req(BOOL)
    picked: int | None = _req(INT_OR_NULL)
    completion: str | None = _opt(STR)
    sample: int | None = _opt(INT)

    @classmethod
    def of(cls, pair: Pair, picked: int | None, completion: str,
           sample: int | None = None) -> CriticPrediction:
        return cls(task=pair.task, step=pair.step, actions=list(pair.actions), label=pair.label,
                   expert_first=pair.expert_first, picked=picked, completion=completion,
                   sample=sample)

    @property
    def correct(self) -> bool:
        return self.picked == self.label


@dataclass(frozen=True, kw_only=True)
class Turn(Record):
    """One turn of a rollout: what the agent wrote, the action read from it (None: malformed),
    whether the game took it, and what it said."""

    KIND: ClassVar[str] = "episode turn"

    completion: str | None = _opt(STR)
    action: str | None = _req(STR_OR_NULL)
    think_open: bool | None = _opt(BOOL)
    valid: bool = _req(BOOL)
    observation: str = _req(STR)


@dataclass(frozen=True, kw_only=True)
class EpisodeRecord(Record):
    """One rollout of the agent (`eval/rollouts.py`); `steps` is the number of turns played."""

    KIND: ClassVar[str] = "episode"

    task: str = _req(STR)
    won: bool = _req(BOOL)
    score: float | None = _opt(NUMBER)
    score_raw: float | None = _opt(NUMBER)  # the environment's own, where it goes below 0
    steps: int = _req(INT)
    invalid_actions: int | None = _opt(INT)
    malformed: int | None = _opt(INT)
    hit_max_steps: bool | None = _opt(BOOL)
    transcript: list[Turn] | None = _opt(_record_list(lambda: Turn))
    split: str | None = _opt(STR)
