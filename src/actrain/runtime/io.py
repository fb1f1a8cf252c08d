"""Atomic file writes and careful reads: every stage output appears whole or not at all."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from actrain.errors import ActrainError
from actrain.runtime.distributed import is_main

# What the pipeline's own files hold (checked when read back, so a hand-edited or foreign file
# is one clear error, not a KeyError deep in a stage).
TRAJECTORY_FIELDS = ("task", "task_description", "steps")
PAIR_FIELDS = ("task", "actions", "label", "expert_first")


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


def write_jsonl(path: Path, records: Iterable[dict[str, Any]]) -> None:
    write_atomic(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))


def write_json(path: Path, data: Any) -> None:
    write_atomic(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def read_jsonl(path: Path, required: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Read a JSONL file of records, each holding the `required` keys.

    A line that is not UTF-8, not JSON, or not such a record is an error naming the file, the
    line and what was expected, not a traceback.
    """
    path = Path(path)
    if not path.exists():
        raise ActrainError(f"{path} does not exist")
    records = []
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
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ActrainError(
                    f"{path}: line {number} is not valid JSON ({exc.msg}); "
                    "delete the file to rebuild it"
                ) from None
            missing = [k for k in required if not isinstance(record, dict) or k not in record]
            if missing:
                raise ActrainError(f"{path}: line {number} is not a record with "
                                   f"{', '.join(required)} (missing {', '.join(missing)})")
            records.append(record)
    return records


def read_json(path: Path) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ActrainError(f"{path} does not exist") from None
    except json.JSONDecodeError as exc:
        raise ActrainError(f"{path} is not valid JSON ({exc.msg}); delete it to rebuild") from None


def read_trajectories(path: Path) -> list[dict[str, Any]]:
    return read_jsonl(path, TRAJECTORY_FIELDS)


def read_pairs(path: Path) -> list[dict[str, Any]]:
    return read_jsonl(path, PAIR_FIELDS)
