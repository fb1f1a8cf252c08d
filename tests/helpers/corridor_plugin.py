"""A user's own environment and rewards, named from a YAML by import path (tests/test_plugins.py).

Corridor: walk `length` rooms forward; `go back` and `wait` are admissible but useless."""

from actrain.envs import StepResult, TextEnv


class Corridor(TextEnv):
    def __init__(self, length: int = 2) -> None:
        self.length, self.room = length, 0

    def tasks(self, split: str) -> list[str]:
        return [f"{split}:{i}" for i in range(3)]

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


def quarter(prompts, completions, **kwargs):
    """A constant ACT reward: its logged mean proves it was the one used."""
    assert "label" in kwargs and "actions" in kwargs  # the pair's columns arrive
    return [0.25] * len(completions)


def three_quarters(prompts, completions, expert_action, **kwargs):
    """A constant RL reward."""
    return [0.75] * len(completions)


def not_an_env():
    return []


def not_a_reward(prompts, completions):  # no **kwargs: TRL would pass columns it cannot take
    return [0.0] * len(completions)
