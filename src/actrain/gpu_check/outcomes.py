"""How a stage ends other than passing: skipped (it does not apply on this host), failed (what it
measured is wrong), or stopped (past its time limit). The runner records each differently."""

from __future__ import annotations

from typing import Any


class Skip(Exception):  # noqa: N818 - a stage's way of saying it does not apply here
    """Raised by a stage that cannot run on this host; the message is the reason, and
    `details` what it found out before it stopped."""

    def __init__(self, reason: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(reason)
        self.details = details or {}


class CheckFailed(Exception):
    """A stage ran and what it measured is wrong; `details` what it measured, so the record
    shows the numbers beside the error."""

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.details = details if details is not None else {}


class StageTimeout(Exception):
    """A stage ran past its limit (raised by the alarm in the main thread)."""


def require(condition: bool, message: str) -> None:
    """An assertion that survives `python -O`."""
    if not condition:
        raise CheckFailed(message)
