"""What every record is built on: `Record` (from_json / to_json, byte-compatible), the field
kinds it checks, and the one-line error a bad field is."""

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

