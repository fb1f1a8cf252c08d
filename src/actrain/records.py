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

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from actrain.errors import ActrainError

R = TypeVar("R", bound="Record")


class RecordError(ActrainError):
    """A record that is not what its file should hold. `field` names the field (a path such as
    `steps[2].observation`); `missing` tells a missing field from a wrongly typed one."""

    def __init__(self, kind: str, field_name: str, problem: str, required: Sequence[str],
                 missing: bool) -> None:
        self.kind, self.field, self.problem = kind, field_name, problem
        self.required, self.missing = tuple(required), missing
        if missing:
            text = (f"not a {kind} record: missing field {field_name} "
                    f"(a {kind} needs {', '.join(required)})")
        else:
            text = f"not a {kind} record: field {field_name} {problem}"
        super().__init__(text)

    def at_line(self, path: object, number: int) -> ActrainError:
        """The same problem, said of line `number` of the file `path`."""
        if self.missing:
            return ActrainError(f"{path}: line {number} is not a record with "
                                f"{', '.join(self.required)} (missing {self.field})")
        return ActrainError(f"{path}: line {number} is not a {self.kind} record: field "
                            f"{self.field} {self.problem}")


# --- field kinds: how a JSON value is checked on the way in and copied on the way out ---------


class _Wrong(Exception):
    """A value of the wrong type; `where` is the path below the field, `what` the problem."""

    def __init__(self, what: str, where: str = "") -> None:
        super().__init__(what)
        self.what, self.where = what, where


def _type_name(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
            int: "an integer", float: "a number", type(None): "null"}.get(type(value),
                                                                         type(value).__name__)


@dataclass(frozen=True)
class _Kind:
    expected: str
    load: Callable[[Any], Any]
    dump: Callable[[Any], Any] = lambda v: v


def _scalar(expected: str, ok: Callable[[Any], bool], nullable: bool = False) -> _Kind:
    def load(value: Any) -> Any:
        if (value is None and nullable) or ok(value):
            return value
        raise _Wrong(f"must be {expected}, got {_type_name(value)}")

    return _Kind(expected, load)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


STR = _scalar("a string", lambda v: isinstance(v, str))
STR_OR_NULL = _scalar("a string or null", lambda v: isinstance(v, str), nullable=True)
INT = _scalar("an integer", _is_int)
INT_OR_NULL = _scalar("an integer or null", _is_int, nullable=True)
BOOL = _scalar("a boolean", lambda v: isinstance(v, bool))
# A number stays as it was read (1 stays 1, 1.0 stays 1.0), so it is written back the same.
NUMBER = _scalar("a number", lambda v: _is_int(v) or isinstance(v, float))


def _load_str_list(value: Any) -> list[str]:
    if not isinstance(value, (list, tuple)):
        raise _Wrong(f"must be a list of strings, got {_type_name(value)}")
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise _Wrong(f"must be a string, got {_type_name(item)}", f"[{i}]")
    return list(value)


STR_LIST = _Kind("a list of strings", _load_str_list, list)


def _load_history(value: Any) -> list[list[str]]:
    if not isinstance(value, (list, tuple)):
        raise _Wrong(f"must be a list of [observation, action] pairs, got {_type_name(value)}")
    out = []
    for i, item in enumerate(value):
        if not (isinstance(item, (list, tuple)) and len(item) == 2
                and all(isinstance(x, str) for x in item)):
            raise _Wrong("must be an [observation, action] pair of strings", f"[{i}]")
        out.append(list(item))
    return out


HISTORY = _Kind("a list of [observation, action] pairs", _load_history,
                lambda v: [list(h) for h in v])


def _record_list(cls: Callable[[], type[Record]]) -> _Kind:
    """A list of nested records (a trajectory's steps, an episode's turns)."""

    def load(value: Any) -> list[Record]:
        record_type = cls()
        if not isinstance(value, (list, tuple)):
            raise _Wrong(f"must be a list, got {_type_name(value)}")
        out = []
        for i, item in enumerate(value):
            if isinstance(item, record_type):
                out.append(item)
                continue
            try:
                out.append(record_type.from_json(item))
            except RecordError as exc:
                problem = (f"is missing (a {exc.kind} needs {', '.join(exc.required)})"
                           if exc.missing else exc.problem)
                raise _Wrong(problem, f"[{i}].{exc.field}") from None
        return out

    return _Kind("a list of records", load, lambda v: [r.to_json() for r in v])


def _req(kind: _Kind) -> Any:
    """A field every record has (its value may still be null where the kind allows)."""
    return field(metadata={"kind": kind})


def _opt(kind: _Kind) -> Any:
    """A field a record may lack: None here, and then left out of `to_json()`."""
    return field(default=None, metadata={"kind": kind, "optional": True})


# --- the base: checks on the way in, the same dict on the way out -----------------------------


_BOOKKEEPING = ("extra", "key_order")


@dataclass(frozen=True, kw_only=True)
class Record:
    """A JSON-line record. `extra`: keys this type does not know, kept as read. `key_order`: the
    order its keys were read in (empty: the fields' order), so `to_json` writes them back so."""

    KIND: ClassVar[str] = "record"

    extra: dict[str, Any] = field(default_factory=dict, repr=False)
    key_order: tuple[str, ...] = field(default=(), repr=False, compare=False)

    @classmethod
    def _fields(cls) -> list[dataclasses.Field]:
        return [f for f in dataclasses.fields(cls) if f.name not in _BOOKKEEPING]

    @classmethod
    def required_fields(cls) -> tuple[str, ...]:
        return tuple(f.name for f in cls._fields() if not f.metadata.get("optional"))

    @classmethod
    def from_json(cls: type[R], data: Any) -> R:
        """The record `data` (a dict read from JSON) holds; one `RecordError` (an
        `ActrainError`) naming the field when one is missing or of the wrong type."""
        required = cls.required_fields()
        if not isinstance(data, dict):
            raise RecordError(cls.KIND, ", ".join(required), "", required, missing=True)
        missing = [name for name in required if name not in data]
        if missing:
            raise RecordError(cls.KIND, ", ".join(missing), "", required, missing=True)
        values: dict[str, Any] = {}
        known = set()
        for f in cls._fields():
            known.add(f.name)
            if f.name not in data:
                continue
            value = data[f.name]
            if value is None and f.metadata.get("optional"):
                raise RecordError(cls.KIND, f.name, "must not be null (leave it out instead)",
                                  required, missing=False)
            try:
                values[f.name] = f.metadata["kind"].load(value)
            except _Wrong as exc:
                raise RecordError(cls.KIND, f.name + exc.where, exc.what, required,
                                  missing=False) from None
        extra = {k: v for k, v in data.items() if k not in known}
        order = tuple(data)
        canonical = tuple(f.name for f in cls._fields() if f.name in data) + tuple(extra)
        return cls(**values, extra=extra, key_order=() if order == canonical else order)

    @classmethod
    def coerce(cls: type[R], item: R | dict[str, Any]) -> R:
        """`item` if it is already this record, else the record its dict holds."""
        return item if isinstance(item, cls) else cls.from_json(item)

    @classmethod
    def coerce_all(cls: type[R], items: Iterable[R | dict[str, Any]]) -> list[R]:
        """`coerce` of each item: records from a user's dicts (the Python API) or a file."""
        return [cls.coerce(item) for item in items]

    def to_json(self) -> dict[str, Any]:
        """The record as the dict its JSON line holds (a fresh one: changing it changes
        nothing here)."""
        out: dict[str, Any] = {}
        for f in self._fields():
            value = getattr(self, f.name)
            if value is None and f.metadata.get("optional"):
                continue
            out[f.name] = f.metadata["kind"].dump(value)
        for key, value in self.extra.items():
            out.setdefault(key, value)
        if self.key_order:
            ordered = {k: out[k] for k in self.key_order if k in out}
            ordered.update((k, v) for k, v in out.items() if k not in ordered)
            out = ordered
        return out

    def replace(self: R, **changes: Any) -> R:
        """A copy with `changes` (field names), in the same key order."""
        return dataclasses.replace(self, **changes)

    # A bridge for code that still reads records as dicts (prompts.py until its views take
    # records): record["task"] and record.get("context", "") read the fields. Code in actrain
    # reads attributes; do not add new string-key reads.
    def __getitem__(self, key: str) -> Any:
        if key in _BOOKKEEPING or key not in {f.name for f in self._fields()}:
            if key in self.extra:
                return self.extra[key]
            raise KeyError(key)
        value = getattr(self, key)
        if value is None and key not in self.required_fields():
            raise KeyError(key)
        return value

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default


# --- trajectories -----------------------------------------------------------------------------


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
