"""Atomic file writes and careful reads: every stage output appears whole or not at all."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from actrain.errors import ActrainError
from actrain.records import (
    CriticPrediction,
    EpisodeRecord,
    NextActionRecord,
    Outcome,
    Pair,
    Rationale,
    Record,
    RecordError,
    Trajectory,
)
from actrain.runtime.distributed import is_main

R = TypeVar("R", bound=Record)


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to a temp file beside `path`, then rename it into place.

    Only the main process writes: launched as several, the others hold the same data.
    """
    if not is_main():
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_jsonl(path: Path, records: Iterable[dict[str, Any] | Record]) -> None:
    """One JSON line per record: a typed record (`actrain.records`) as its `to_json()`."""
    write_atomic(path, "".join(
        json.dumps(r.to_json() if isinstance(r, Record) else r, ensure_ascii=False) + "\n"
        for r in records))


def write_json(path: Path, data: Any) -> None:
    write_atomic(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def _json_lines(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, value) of each non-blank line; a line that is not UTF-8 or not JSON is an
    error naming the file and the line."""
    path = Path(path)
    if not path.exists():
        raise ActrainError(f"{path} does not exist")
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise ActrainError(f"{path}: line {number} is not UTF-8 text; "
                                   "delete the file to rebuild it") from None
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError as exc:
                raise ActrainError(
                    f"{path}: line {number} is not valid JSON ({exc.msg}); "
                    "delete the file to rebuild it"
                ) from None


def read_jsonl(path: Path, required: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Read a JSONL file of records, each holding the `required` keys.

    A line that is not UTF-8, not JSON, or not such a record is an error naming the file, the
    line and what was expected, not a traceback.
    """
    records = []
    for number, record in _json_lines(path):
        missing = [k for k in required if not isinstance(record, dict) or k not in record]
        if missing:
            raise ActrainError(f"{path}: line {number} is not a record with "
                               f"{', '.join(required)} (missing {', '.join(missing)})")
        records.append(record)
    return records


def read_records(path: Path, record_type: type[R]) -> list[R]:
    """Read a JSONL file of typed records (`actrain.records`): a line that is not one (a field
    missing or of the wrong type) is one error naming the file, the line and the field."""
    records = []
    for number, data in _json_lines(path):
        try:
            records.append(record_type.from_json(data))
        except RecordError as exc:
            raise exc.at_line(path, number) from None
    return records


def read_json(path: Path) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ActrainError(f"{path} does not exist") from None
    except json.JSONDecodeError as exc:
        raise ActrainError(f"{path} is not valid JSON ({exc.msg}); delete it to rebuild") from None


def read_trajectories(path: Path) -> list[Trajectory]:
    return read_records(path, Trajectory)


def read_pairs(path: Path) -> list[Pair]:
    return read_records(path, Pair)


def read_outcomes(path: Path) -> list[Outcome]:
    return read_records(path, Outcome)


def read_rationales(path: Path) -> list[Rationale]:
    return read_records(path, Rationale)


def read_next_action_records(path: Path) -> list[NextActionRecord]:
    return read_records(path, NextActionRecord)


def read_predictions(path: Path) -> list[CriticPrediction]:
    return read_records(path, CriticPrediction)


def read_episodes(path: Path) -> list[EpisodeRecord]:
    return read_records(path, EpisodeRecord)
