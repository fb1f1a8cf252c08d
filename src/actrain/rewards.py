"""Reward functions with TRL's signature: `f(prompts, completions, **dataset_columns)`.

`action_reward` is the RL stage's: the expert's action, an admissible one, or a missing tag.
Like the ACT rewards below, it and its weight-0 metrics return None for a completion cut off
while thinking (with `data.actor_reasoning`).

`choice_reward` is the ACT reward: 1 for picking the expert's action, 0 for the other one, and
`malformed_reward` (below zero, so a guess beats no answer) when the answer cannot be parsed.
With `critic.answer_format: action` the pick is the action written in the <action> tag: right
when it is the expert's action (`normalise_action`), wrong when it is the alternative, malformed
when it is anything else (`prompts.parse_choice`).
The `accuracy*` functions are logged with weight 0: TRL then reports them as
`rewards/<name>/mean`, averaging only the rows where they return a number.

A completion cut off while thinking (it hit the length limit before `</think>`, see
`cut_off`) has no answer to score, and with `critic.reasoning` TRL masks it out of the loss
(`mask_truncated_completions`). Every ACT reward function (the choice and consistency rewards and
the weight-0 metrics) returns None for it: TRL 1.16 turns None into NaN, and a row that every
reward function leaves NaN is unscorable, kept out of its group's baseline (`nanmean`) with its
advantage set to 0. Scoring it as malformed (-0.5) instead would pull the baseline down and give
the wrong answers of its group a positive advantage; scoring it as wrong (0) would still count it
in the baseline, rewarding short answers for finishing. A user's `act.reward` must do the same
(return None where `cut_off` says so), or TRL scores the row with the user's value.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from actrain.prompts import (
    critic_tag,
    normalise_action,
    opens_thinking,
    parse_action,
    parse_choice,
    truncated_thinking,
)


def _text(completion: Any) -> str:
    """TRL passes strings for plain-text prompts and message lists for conversational ones."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion and isinstance(completion[-1], dict):
        return str(completion[-1].get("content", ""))
    return ""


def _opened(prompts: Sequence[Any] | None, n: int) -> list[bool]:
    """Whether each row's prompt opened the thinking block (`prompts.opens_thinking`)."""
    return [opens_thinking(p) for p in prompts] if prompts else [False] * n


def choices(
    completions: Sequence[Any],
    actions: Sequence[Sequence[str]],
    answer_format: str,
    prefilled: bool,
    prompts: Sequence[Any] | None = None,
) -> list[int | None]:
    """The position each completion picks (None: malformed), read as its prompt left it: a
    prompt that opened the thinking block makes everything before `</think>` thinking."""
    return [
        parse_choice(_text(c), a, answer_format, prefilled, think_open)
        for c, a, think_open in zip(
            completions, actions, _opened(prompts, len(completions)), strict=True
        )
    ]


def cut_off(
    completions: Sequence[Any], prefilled: bool, prompts: Sequence[Any] | None = None,
    tag: str = "answer",
) -> list[bool]:
    """Which completions were cut off while thinking: no answer, so no reward (module doc).

    `tag`: the one the answer is written in, "answer" for a critic with `answer_format: index`,
    "action" for one with `answer_format: action` and for the agent (RL). A prefilled completion
    has already begun its answer, so it is never cut off while thinking.
    """
    if prefilled:
        return [False] * len(completions)
    return [
        truncated_thinking(_text(c), think_open, (f"</{tag}>",))
        for c, think_open in zip(completions, _opened(prompts, len(completions)), strict=True)
    ]


def make_choice_reward(
    answer_format: str = "index",
    prefilled: bool = True,
    correct: float = 1.0,
    wrong: float = 0.0,
    malformed: float = -0.5,
) -> Callable[..., list[float | None]]:
    """Build the ACT reward for a given answer format (the prompts decide the format); None for a
    completion cut off while thinking (module doc)."""
    tag = critic_tag(answer_format)  # the answer's tag; refuses an unknown format

    def choice_reward(
        prompts: Sequence[Any], completions: Sequence[Any], actions: Sequence[Sequence[str]],
        label: Sequence[int], **_: Any,
    ) -> list[float | None]:
        picked = choices(completions, actions, answer_format, prefilled, prompts)
        cut = cut_off(completions, prefilled, prompts, tag)
        return [
            None if c else malformed if p is None else (correct if p == y else wrong)
            for p, y, c in zip(picked, label, cut, strict=True)
        ]

    return choice_reward


def make_accuracy_metrics(
    answer_format: str = "index", prefilled: bool = True
) -> list[Callable[..., list[float | None]]]:
    """Weight-0 reward functions that only log accuracy: overall, expert first, expert second.

    Each returns None for a completion cut off while thinking, like the choice reward, so that
    TRL can leave the row out of its group's baseline (module doc); TRL reports the share of
    cut-off completions as `completions/clipped_ratio`.
    """
    tag = critic_tag(answer_format)  # the answer's tag; refuses an unknown format

    def _accuracy(prompts, completions, actions, label, expert_first, want):  # noqa: ANN001, ANN202
        picked = choices(completions, actions, answer_format, prefilled, prompts)
        cut = cut_off(completions, prefilled, prompts, tag)
        return [
            (1.0 if p == y else 0.0) if not c and (want is None or ef == want) else None
            for p, y, ef, c in zip(picked, label, expert_first, cut, strict=True)
        ]

    def accuracy(prompts, completions, actions, label, expert_first, **_):  # noqa: ANN001, ANN202
        return _accuracy(prompts, completions, actions, label, expert_first, None)

    def accuracy_expert_first(prompts, completions, actions, label, expert_first, **_):  # noqa: ANN001, ANN202
        return _accuracy(prompts, completions, actions, label, expert_first, True)

    def accuracy_expert_second(prompts, completions, actions, label, expert_first, **_):  # noqa: ANN001, ANN202
        return _accuracy(prompts, completions, actions, label, expert_first, False)

    def format_ok(prompts, completions, actions, **_):  # noqa: ANN001, ANN202
        picked = choices(completions, actions, answer_format, prefilled, prompts)
        cut = cut_off(completions, prefilled, prompts, tag)
        return [None if c else 0.0 if p is None else 1.0 for p, c in zip(picked, cut, strict=True)]

    def picks_first(prompts, completions, actions, **_):  # noqa: ANN001, ANN202
        """Position preference: the share of well-formed answers that name position 1."""
        picked = choices(completions, actions, answer_format, prefilled, prompts)
        return [None if p is None else float(p == 0) for p in picked]

    return [accuracy, accuracy_expert_first, accuracy_expert_second, format_ok, picks_first]


def make_consistency_reward(
    answer_format: str = "index", prefilled: bool = True
) -> Callable[..., list[float]]:
    """J1's consistency term (arXiv 2505.10320): 1 when a sample and its mirror are both right.

    Needs pair groups, whose rollout tells each row which row showed the same pair in the other
    order (`mirror`). Weighted by `act.consistency_reward` on top of the choice reward. None for
    a completion cut off while thinking, like the choice reward (module doc).
    """
    tag = critic_tag(answer_format)  # the answer's tag; refuses an unknown format

    def consistency_reward(
        prompts: Sequence[Any], completions: Sequence[Any], actions: Sequence[Sequence[str]],
        label: Sequence[int], mirror: Sequence[int], **_: Any,
    ) -> list[float | None]:
        picked = choices(completions, actions, answer_format, prefilled, prompts)
        cut = cut_off(completions, prefilled, prompts, tag)
        right = [p == y for p, y in zip(picked, label, strict=True)]
        return [None if cut[i] else float(right[i] and right[m]) for i, m in enumerate(mirror)]

    return consistency_reward


# Stands for the action of a completion cut off while thinking: it has none to score.
CUT = object()


def make_action_reward(
    prefilled: bool = True,
    expert: float = 1.0,
    admissible: float = 0.1,
    other: float = 0.0,
    malformed: float = -0.5,
) -> Callable[..., list[float | None]]:
    """The RL-stage reward for a next action: expert 1.0, admissible 0.1, missing tag -0.5.

    None for a completion cut off while thinking: with `data.actor_reasoning` the RL stage masks
    it out of the loss, and scored -0.5 it would still pull its group's baseline down and give
    the group's wrong actions a positive advantage (module doc). A user's `rl.reward` must do
    the same."""

    def action_reward(
        prompts: Sequence[Any], completions: Sequence[Any], expert_action: Sequence[str],
        admissible_actions: Sequence[Sequence[str]], **_: Any,
    ) -> list[float | None]:
        rewards: list[float | None] = []
        cut = cut_off(completions, prefilled, prompts, "action")
        for completion, gold, valid, think_open, cut_here in zip(
            completions, expert_action, admissible_actions, _opened(prompts, len(completions)),
            cut, strict=True,
        ):
            action = parse_action(_text(completion), prefilled, think_open)
            if cut_here:
                rewards.append(None)
            elif action is None:
                rewards.append(malformed)
            elif normalise_action(action) == normalise_action(gold):
                rewards.append(expert)
            elif normalise_action(action) in {normalise_action(a) for a in valid}:
                rewards.append(admissible)
            else:
                rewards.append(other)
        return rewards

    return action_reward


def make_action_metrics(prefilled: bool = True) -> list[Callable[..., list[float | None]]]:
    """Weight-0 reward functions: how often the action is the expert's, admissible, well-formed.

    Each returns None for a completion cut off while thinking, like the action reward: TRL
    leaves a row out of its group's baseline only when every reward function does (module doc).
    """

    def _actions(prompts, completions):  # noqa: ANN001, ANN202
        """Each completion's action, with `CUT` for one cut off while thinking."""
        cut = cut_off(completions, prefilled, prompts, "action")
        return [CUT if c else parse_action(_text(text), prefilled, think_open)
                for text, think_open, c in zip(completions, _opened(prompts, len(completions)),
                                               cut, strict=True)]

    def expert_match(prompts, completions, expert_action, **_):  # noqa: ANN001, ANN202
        return [
            None if a is CUT else
            float(a is not None and normalise_action(a) == normalise_action(g))
            for a, g in zip(_actions(prompts, completions), expert_action, strict=True)
        ]

    def admissible(prompts, completions, admissible_actions, **_):  # noqa: ANN001, ANN202
        return [
            None if a is CUT else
            float(a is not None and normalise_action(a) in {normalise_action(v) for v in valid})
            for a, valid in zip(_actions(prompts, completions), admissible_actions, strict=True)
        ]

    def action_format_ok(prompts, completions, **_):  # noqa: ANN001, ANN202
        return [None if a is CUT else float(a is not None) for a in _actions(prompts, completions)]

    return [expert_match, admissible, action_format_ok]
