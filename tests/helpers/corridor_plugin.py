"""A user's own environment and rewards, named from a YAML by import path (tests/test_plugins.py).

Corridor: walk `length` rooms forward; `go back` and `wait` are admissible but useless."""

from actrain.gpu_check.corridor import Corridor as CheckCorridor


class Corridor(CheckCorridor):
    """The GPU check's corridor with three tasks a split."""

    def tasks(self, split: str) -> list[str]:
        return [f"{split}:{i}" for i in range(3)]


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
