"""A critic training pair as `pairs/*.jsonl` holds it, for tests that train on a few of them."""

from __future__ import annotations


def make_pair(i: int, expert_first: bool = True,
              observation: str = "You are in the bedroom.") -> dict:
    """Pair `i`: the expert takes the shirt, the alternative stalls with `inventory`."""
    actions = ["take shirt", "inventory"] if expert_first else ["inventory", "take shirt"]
    return {
        "task": f"train:{i}", "step": 0, "task_description": "tidy up", "history": [],
        "observation": observation, "admissible": ["inventory", "take shirt"],
        "expert_action": "take shirt", "alternative": "inventory", "alternative_source": "policy",
        "actions": actions, "expert_first": expert_first, "label": 0 if expert_first else 1,
    }
