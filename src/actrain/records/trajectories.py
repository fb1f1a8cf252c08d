"""Expert (or explored) paths: a `Trajectory` of `Step`s."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from actrain.records.fields import (
    BOOL,
    NUMBER,
    STR,
    STR_LIST,
    Record,
    _opt,
    _record_list,
    _req,
)


@dataclass(frozen=True, kw_only=True)
class Step(Record):
    """One state of a trajectory and the expert's (or the oracle's) action there. Off-path
    records (`data/offpath.py`) also say whether the state is `off_path` and which `action` the
    exploring policy actually took."""

    KIND: ClassVar[str] = "trajectory step"
    # `data/offpath.py` writes its steps in this order.
    EXPLORED_ORDER: ClassVar[tuple[str, ...]] = (
        "observation", "context", "admissible", "expert_action", "off_path", "action")

    observation: str = _req(STR)
    admissible: list[str] | None = _opt(STR_LIST)
    expert_action: str = _req(STR)
    context: str | None = _opt(STR)
    off_path: bool | None = _opt(BOOL)
    action: str | None = _opt(STR)

    @classmethod
    def explored(cls, *, observation: str, context: str, admissible: Sequence[str],
                 expert_action: str, off_path: bool, action: str) -> Step:
        """A step of an exploring oracle's trajectory (`data/offpath.py`)."""
        return cls(observation=observation, context=context, admissible=list(admissible),
                   expert_action=expert_action, off_path=off_path, action=action,
                   key_order=cls.EXPLORED_ORDER)

    @property
    def taken(self) -> str:
        """The action actually taken here: the explorer's where it explored, else the
        expert's."""
        return self.action if self.action is not None else self.expert_action


@dataclass(frozen=True, kw_only=True)
class Trajectory(Record):
    """One task played along the expert's (or an exploring oracle's) path."""

    KIND: ClassVar[str] = "trajectory"

    task: str = _req(STR)
    task_description: str = _req(STR)
    steps: list[Step] = _req(_record_list(lambda: Step))
    won: bool | None = _opt(BOOL)
    score: float | None = _opt(NUMBER)
    explore: float | None = _opt(NUMBER)  # off-path data: the explorer's probability

    def taken_actions(self) -> list[str]:
        """The actions actually taken, in order (the prefix that rebuilds each state)."""
        return [step.taken for step in self.steps]


# --- pairs, and what was learned from them ----------------------------------------------------
