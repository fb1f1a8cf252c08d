"""The run's context (`Check`) and the stage runner: each stage isolated, limited in time,
recorded with its peak memory, and the JSON written after every stage so a killed check still
leaves what it finished."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from actrain.gpu_check.memory import free_memory, peak_memory, reset_peak
from actrain.gpu_check.outcomes import Skip, StageTimeout
from actrain.gpu_check.settings import LIMITS


@dataclass
class Check:
    """Where and how this check runs, and what it has recorded so far."""

    cpu: bool
    work: Path
    out: Path
    bundle: Path | None
    standin: bool
    deadline: float
    only: set[str] = field(default_factory=set)
    started: float = field(default_factory=time.time)
    results: dict[str, Any] = field(default_factory=dict)

    @property
    def device(self) -> str:
        return "cpu" if self.cpu else "cuda:0"

    @property
    def dtype(self) -> str:
        return "float32" if self.cpu else "bfloat16"

    @property
    def cuda(self) -> bool:
        return not self.cpu

    def write(self) -> None:
        """Write the JSON now (after every stage: a killed check still leaves its results)."""
        self.results["seconds"] = round(time.time() - self.started, 1)
        stages = self.results.get("stages", {}).values()
        self.results["ok"] = not any(s["status"] == "failed" for s in stages)
        self.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.out.with_name(self.out.name + ".tmp")
        tmp.write_text(json.dumps(self.results, indent=1, default=str) + "\n")
        os.replace(tmp, self.out)


@contextlib.contextmanager
def alarm(seconds: int) -> Iterator[None]:
    """Raise `StageTimeout` in the main thread after `seconds` (0: no limit)."""
    if seconds <= 0 or not hasattr(signal, "SIGALRM"):
        yield
        return

    def ring(signum: int, frame: Any) -> None:
        raise StageTimeout(f"stage ran past its limit of {seconds} s")

    previous = signal.signal(signal.SIGALRM, ring)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def run_stage(check: Check, name: str, fn: Callable[[Check], dict[str, Any]]) -> dict[str, Any]:
    """Run one stage in isolation and record it: status, seconds, peak memory, details, and on
    failure the error with the tail of its traceback."""
    record: dict[str, Any] = {"status": "skipped", "ok": None, "seconds": 0.0}
    left = check.deadline - time.time()
    if check.only and name not in check.only:
        record["reason"] = "not selected (--only)"
    elif left <= 0:
        record["reason"] = "the time budget (--budget) was spent before this stage"
    else:
        print(f"gpu-check: {name} ...", flush=True)
        free_memory(check.cuda)
        reset_peak(check.cuda)
        start = time.time()
        try:
            with alarm(int(min(LIMITS[name], max(left, 1)))):
                details = fn(check)
            record.update(status="ok", ok=True)
        except Skip as exc:
            details = exc.details
            record.update(status="skipped", reason=str(exc))
        except BaseException as exc:  # noqa: BLE001 - a check records every failure and goes on
            if isinstance(exc, KeyboardInterrupt):
                raise
            details = getattr(exc, "details", {})
            record.update(status="failed", ok=False,
                          error=f"{type(exc).__name__}: {exc}"[:2000],
                          traceback=traceback.format_exc()[-3000:])
        record["seconds"] = round(time.time() - start, 1)
        worker_peak = details.pop("worker_peak", None) if isinstance(details, dict) else None
        if record["status"] != "skipped" or worker_peak:
            record.update(worker_peak or peak_memory(check.cuda))
        record["details"] = details
        left_behind = free_memory(check.cuda)
        if left_behind:
            record["cleanup_error"] = left_behind
    check.results.setdefault("stages", {})[name] = record
    check.write()
    summary = record.get("reason") or record.get("error", "")
    peak = record.get("peak_memory_mib")
    print(f"gpu-check: {name}: {record['status']} in {record['seconds']} s"
          + (f", peak {peak} MiB ({record['peak_memory_kind']})" if peak is not None else "")
          + (f": {summary.splitlines()[0][:300]}" if summary else ""), flush=True)
    return record
