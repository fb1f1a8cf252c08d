"""The same config samples the same alternatives, and so the same pairs, with 1 or 2 processes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest

import actrain.data.alternatives as pairs_module
from actrain.config.schema import load_config
from actrain.data.alternatives import make_pairs, sample_alternatives
from actrain.runtime import distributed

ADMISSIBLE = ["inventory", "look", "take shirt", "open wardrobe", "put shirt in wardrobe"]
TRAJECTORIES = [
    {"task": f"train:{i}", "task_description": "Put the shirt away.",
     "steps": [{"observation": f"Room {i}, step {j}." + " It is tidy." * (i + j),
                "admissible": ADMISSIBLE, "expert_action": ADMISSIBLE[2 + j]}
               for j in range(3)]}
    for i in range(3)
]


def two_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run `map_sharded` as two processes would: each rank's `work` on its own share, under its
    own `rank()`, merged back in order as `distributed.gather` does."""
    current = {"rank": 0}
    for module in (distributed, pairs_module):
        monkeypatch.setattr(module, "rank", lambda: current["rank"], raising=False)
        monkeypatch.setattr(module, "world", lambda: 2, raising=False)

    def map_sharded(work: Callable[[list[Any]], Sequence[Any]], items: Sequence[Any]) -> list[Any]:
        merged: list[Any] = [None] * len(items)
        for r in range(2):
            current["rank"] = r
            merged[r::2] = work(list(items[r::2]))
        current["rank"] = 0
        return merged

    monkeypatch.setattr(pairs_module, "map_sharded", map_sharded)


CONFIG = ["model=tiny-random", "dtype=float32", "alternatives.samples_per_state=2", "eval.batch_size=4",
          "alternatives.temperature=1.0", "alternatives.top_p=1.0",
          "alternatives.admissible_only=false", "alternatives.max_new_tokens=6"]


def test_alternatives_and_pairs_do_not_depend_on_the_number_of_processes(
        tiny_model, monkeypatch: pytest.MonkeyPatch) -> None:
    tiny_model, tokenizer = tiny_model
    config = load_config(None, CONFIG)
    _, one = sample_alternatives(tiny_model, tokenizer, TRAJECTORIES, config, seed=3)
    one_pairs, one_stats = make_pairs(tiny_model, tokenizer, TRAJECTORIES, config, False, 3)
    assert len({tuple(s) for s in one}) > 1  # the samples differ between states
    two_processes(monkeypatch)
    _, two = sample_alternatives(tiny_model, tokenizer, TRAJECTORIES, config, seed=3)
    assert two == one
    assert make_pairs(tiny_model, tokenizer, TRAJECTORIES, config, False, 3) == (one_pairs,
                                                                                 one_stats)


def test_the_paper_rule_samples_one_action_a_state(tiny_model) -> None:
    tiny_model, tokenizer = tiny_model
    config = load_config(None, [*CONFIG, "alternatives.rule=paper"])
    states, sampled = sample_alternatives(tiny_model, tokenizer, TRAJECTORIES, config, seed=0)
    assert len(states) == 9 and all(len(s) == 1 for s in sampled)
