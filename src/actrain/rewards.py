"""Reward functions with TRL's signature: `f(prompts, completions, **dataset_columns)`.

`choice_reward` is the ACT reward: 1 for picking the expert's action, 0 for the other one, and
`malformed_reward` (below zero, so a guess beats no answer) when the answer cannot be parsed.
The `accuracy*` functions are logged with weight 0: TRL then reports them as
`rewards/<name>/mean`, averaging only the rows where they return a number.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from actrain.prompts import parse_choice


def _text(completion: Any) -> str:
    """TRL passes strings for plain-text prompts and message lists for conversational ones."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion and isinstance(completion[-1], dict):
        return str(completion[-1].get("content", ""))
    return ""


def choices(
    completions: Sequence[Any],
    actions: Sequence[Sequence[str]],
    answer_format: str,
    prefilled: bool,
) -> list[int | None]:
    return [
        parse_choice(_text(c), a, answer_format, prefilled)
        for c, a in zip(completions, actions, strict=True)
    ]


def make_choice_reward(
    answer_format: str = "index",
    prefilled: bool = True,
    correct: float = 1.0,
    wrong: float = 0.0,
    malformed: float = -0.5,
) -> Callable[..., list[float]]:
    """Build the ACT reward for a given answer format (the prompts decide the format)."""

    def choice_reward(
        prompts: Sequence[Any], completions: Sequence[Any], actions: Sequence[Sequence[str]],
        label: Sequence[int], **_: Any,
    ) -> list[float]:
        picked = choices(completions, actions, answer_format, prefilled)
        return [
            malformed if p is None else (correct if p == y else wrong)
            for p, y in zip(picked, label, strict=True)
        ]

    return choice_reward


def make_accuracy_metrics(
    answer_format: str = "index", prefilled: bool = True
) -> list[Callable[..., list[float | None]]]:
    """Weight-0 reward functions that only log accuracy: overall, expert first, expert second."""

    def _accuracy(completions, actions, label, expert_first, want):  # noqa: ANN001, ANN202
        picked = choices(completions, actions, answer_format, prefilled)
        return [
            (1.0 if p == y else 0.0) if want is None or ef == want else None
            for p, y, ef in zip(picked, label, expert_first, strict=True)
        ]

    def accuracy(prompts, completions, actions, label, expert_first, **_):  # noqa: ANN001, ANN202
        return _accuracy(completions, actions, label, expert_first, None)

    def accuracy_expert_first(prompts, completions, actions, label, expert_first, **_):  # noqa: ANN001, ANN202
        return _accuracy(completions, actions, label, expert_first, True)

    def accuracy_expert_second(prompts, completions, actions, label, expert_first, **_):  # noqa: ANN001, ANN202
        return _accuracy(completions, actions, label, expert_first, False)

    def format_ok(prompts, completions, actions, **_):  # noqa: ANN001, ANN202
        picked = choices(completions, actions, answer_format, prefilled)
        return [0.0 if p is None else 1.0 for p in picked]

    return [accuracy, accuracy_expert_first, accuracy_expert_second, format_ok]
