"""Reward functions with TRL's signature: `f(prompts, completions, **dataset_columns)`.

`action_reward` is the RL stage's: the expert's action, an admissible one, or a missing tag.

`choice_reward` is the ACT reward: 1 for picking the expert's action, 0 for the other one, and
`malformed_reward` (below zero, so a guess beats no answer) when the answer cannot be parsed.
The `accuracy*` functions are logged with weight 0: TRL then reports them as
`rewards/<name>/mean`, averaging only the rows where they return a number.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from actrain.prompts import normalise_action, parse_action, parse_choice


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

    def picks_first(prompts, completions, actions, **_):  # noqa: ANN001, ANN202
        """Position preference: the share of well-formed answers that name position 1."""
        picked = choices(completions, actions, answer_format, prefilled)
        return [None if p is None else float(p == 0) for p in picked]

    return [accuracy, accuracy_expert_first, accuracy_expert_second, format_ok, picks_first]


def make_consistency_reward(
    answer_format: str = "index", prefilled: bool = True
) -> Callable[..., list[float]]:
    """J1's consistency term (arXiv 2505.10320): 1 when a sample and its mirror are both right.

    Needs pair groups, whose rollout tells each row which row showed the same pair in the other
    order (`mirror`). Weighted by `act.consistency_reward` on top of the choice reward.
    """

    def consistency_reward(
        prompts: Sequence[Any], completions: Sequence[Any], actions: Sequence[Sequence[str]],
        label: Sequence[int], mirror: Sequence[int], **_: Any,
    ) -> list[float]:
        picked = choices(completions, actions, answer_format, prefilled)
        right = [p == y for p, y in zip(picked, label, strict=True)]
        return [float(right[i] and right[m]) for i, m in enumerate(mirror)]

    return consistency_reward


def make_action_reward(
    prefilled: bool = True,
    expert: float = 1.0,
    admissible: float = 0.1,
    other: float = 0.0,
    malformed: float = -0.5,
) -> Callable[..., list[float]]:
    """The RL-stage reward for a next action: expert 1.0, admissible 0.1, missing tag -0.5."""

    def action_reward(
        prompts: Sequence[Any], completions: Sequence[Any], expert_action: Sequence[str],
        admissible_actions: Sequence[Sequence[str]], **_: Any,
    ) -> list[float]:
        rewards = []
        for completion, gold, valid in zip(
            completions, expert_action, admissible_actions, strict=True
        ):
            action = parse_action(_text(completion), prefilled)
            if action is None:
                rewards.append(malformed)
            elif normalise_action(action) == normalise_action(gold):
                rewards.append(expert)
            elif normalise_action(action) in {normalise_action(a) for a in valid}:
                rewards.append(admissible)
            else:
                rewards.append(other)
        return rewards

    return action_reward


def make_action_metrics(prefilled: bool = True) -> list[Callable[..., list[float]]]:
    """Weight-0 reward functions: how often the action is the expert's, admissible, well-formed."""

    def _actions(completions):  # noqa: ANN001, ANN202
        return [parse_action(_text(c), prefilled) for c in completions]

    def expert_match(prompts, completions, expert_action, **_):  # noqa: ANN001, ANN202
        return [
            float(a is not None and normalise_action(a) == normalise_action(g))
            for a, g in zip(_actions(completions), expert_action, strict=True)
        ]

    def admissible(prompts, completions, admissible_actions, **_):  # noqa: ANN001, ANN202
        return [
            float(a is not None and normalise_action(a) in {normalise_action(v) for v in valid})
            for a, valid in zip(_actions(completions), admissible_actions, strict=True)
        ]

    def action_format_ok(prompts, completions, **_):  # noqa: ANN001, ANN202
        return [float(a is not None) for a in _actions(completions)]

    return [expert_match, admissible, action_format_ok]
