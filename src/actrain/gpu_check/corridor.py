"""A tiny environment and an RL reward for the training stages: pure Python, so the check needs
no game package, and a reward that varies so GRPO's groups give a gradient."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from actrain.envs.base import StepResult, TextEnv


class Corridor(TextEnv):
    """Walk `length` rooms forward; `go back` and `wait` are admissible but useless."""

    def __init__(self, length: int = 2) -> None:
        self.length, self.room = length, 0

    def tasks(self, split: str) -> list[str]:
        return [f"{split}:{i}" for i in range(4)]

    def _observation(self) -> str:
        return f"You are in room {self.room} of a corridor of {self.length}."

    def reset(self, task: str) -> StepResult:
        self.room = 0
        return StepResult(self._observation(), info={"won": False, "score": 0.0,
                                                     "task_description": "Reach the end."})

    def step(self, action: str) -> StepResult:
        if action == "go forward":
            self.room += 1
        elif action == "go back":
            self.room = max(0, self.room - 1)
        won = self.room >= self.length
        return StepResult(self._observation(), float(won), won,
                          {"won": won, "score": self.room / self.length})

    def admissible_actions(self) -> list[str]:
        return ["go back", "go forward", "wait"]

    def expert_actions(self, task: str) -> list[str]:
        return ["go forward"] * self.length


def varied_reward(prompts: Sequence[Any], completions: Sequence[Any], **_: Any) -> list[float]:
    """An RL reward that differs between completions (a hash of the text).

    The built-in reward gives every completion of a random model the same -0.5 (no action tag),
    so its GRPO groups have no variance and the step no gradient; this one lets the RL stage's
    optimizer step be seen in the weights.
    """
    return [(sum(map(ord, str(c))) % 7) / 6 for c in completions]
