"""A state and its two (or K) actions: `Pair`, and where they led, `Outcome`, with a teacher's
`Rationale` over them (Early Experience)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from actrain.records.fields import (
    BOOL,
    HISTORY,
    INT,
    STR,
    STR_LIST,
    Record,
    _opt,
    _req,
)


@dataclass(frozen=True, kw_only=True)
class PairedState(Record):
    """The fields a pair, its branched outcome and its rationale share: an expert state (the
    task, the step, what the agent saw there) with the expert's action and one alternative."""

    KIND: ClassVar[str] = "pair"

    task: str = _req(STR)
    step: int = _req(INT)
    task_description: str = _req(STR)
    history: list[list[str]] = _req(HISTORY)
    observation: str = _req(STR)
    context: str | None = _opt(STR)
    admissible: list[str] = _req(STR_LIST)
    expert_action: str = _req(STR)
    alternative: str = _req(STR)

    @property
    def state_key(self) -> tuple[str, int]:
        """The expert state: (task, step)."""
        return (self.task, self.step)

    @property
    def key(self) -> tuple[str, int, str]:
        """The state and alternative (a pair written in both orders has one key)."""
        return (self.task, self.step, self.alternative)


@dataclass(frozen=True, kw_only=True)
class Pair(PairedState):
    """A critic pair: the state, both actions in their shown order and the label (the position
    of the expert's action). A K-way item (`data/kway.py`) also lists its `alternatives`."""

    KIND: ClassVar[str] = "pair"

    alternative_source: str | None = _opt(STR)
    alternatives: list[str] | None = _opt(STR_LIST)
    actions: list[str] = _req(STR_LIST)
    expert_first: bool = _req(BOOL)
    label: int = _req(INT)

    @classmethod
    def make(
        cls,
        *,
        task: str,
        step: int,
        task_description: str,
        history: Iterable[Sequence[str]],
        observation: str,
        context: str | None,
        admissible: Iterable[str],
        expert_action: str,
        alternative: str,
        alternative_source: str,
        expert_first: bool,
    ) -> Pair:
        """The one constructor of a pair (`actrain.pair`, the pairs and hard-set steps): both
        actions in the shown order `expert_first` says, and the label. `context` None leaves
        the key out (`actrain.pair` has none)."""
        actions = [expert_action, alternative] if expert_first else [alternative, expert_action]
        return cls(task=task, step=step, task_description=task_description,
                   history=[list(h) for h in history], observation=observation,
                   context=context, admissible=list(admissible), expert_action=expert_action,
                   alternative=alternative, alternative_source=alternative_source,
                   actions=actions, expert_first=expert_first, label=0 if expert_first else 1)

    def shown(self, actions: Sequence[str], label: int) -> Pair:
        """The same pair (or K-way item) shown as `actions`, the expert's at `label`."""
        return self.replace(actions=list(actions), label=label, expert_first=label == 0)

    @property
    def candidates(self) -> list[str]:
        """The expert's action first, then the alternatives (one for a plain pair)."""
        return [self.expert_action, *(self.alternatives or [self.alternative])]


@dataclass(frozen=True, kw_only=True)
class Outcome(PairedState):
    """Early Experience branching: what the game said after the expert's action and after the
    alternative, at one pair's state."""

    KIND: ClassVar[str] = "outcome"

    expert_outcome: str = _req(STR)
    alternative_outcome: str = _req(STR)

    @classmethod
    def of(cls, pair: PairedState, expert_outcome: str, alternative_outcome: str) -> Outcome:
        """The outcome record of `pair`'s state and alternative: its state fields (those it
        has), then both outcomes."""
        state = {f.name: getattr(pair, f.name) for f in PairedState._fields()}
        state = {k: v for k, v in state.items() if v is not None}
        return cls(**state, expert_outcome=expert_outcome,
                   alternative_outcome=alternative_outcome)


@dataclass(frozen=True, kw_only=True)
class Rationale(Outcome):
    """A teacher's reflection at one state: the state's first outcome record, with every
    alternative of the state and where it led, the `rationale` ("" when the teacher gave none)
    and all the teacher wrote."""

    KIND: ClassVar[str] = "rationale"

    alternatives: list[str] = _req(STR_LIST)
    alternative_outcomes: list[str] = _req(STR_LIST)
    rationale: str = _req(STR)
    teacher_output: str = _req(STR)

    @classmethod
    def of(cls, group: Sequence[Outcome], rationale: str,  # type: ignore[override]
           teacher_output: str) -> Rationale:
        """The rationale record of one state's outcome records (`group`, in file order): the
        first one as it is (extra keys too), then the reflection's fields."""
        return cls.from_json({**group[0].to_json(),
                              "alternatives": [o.alternative for o in group],
                              "alternative_outcomes": [o.alternative_outcome for o in group],
                              "rationale": rationale, "teacher_output": teacher_output})


# --- evaluation records -----------------------------------------------------------------------
