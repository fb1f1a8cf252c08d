"""Three two-step expert trajectories ("take shirt", "open wardrobe"), as
`trajectories/*.jsonl` holds them, for tests that train a stage on a few states."""

from __future__ import annotations

from actrain.records import Trajectory

SHIRT_TRAJECTORIES = [
    {"task": f"train:{i}", "task_description": "Put the shirt away.", "won": True, "score": 1.0,
     "steps": [{"observation": "You are in the bedroom. You see a shirt.",
                "admissible": ["inventory", "take shirt"], "expert_action": "take shirt"},
               {"observation": "You take the shirt.",
                "admissible": ["inventory", "open wardrobe"], "expert_action": "open wardrobe"}]}
    for i in range(3)
]


def expert_path(task: str, actions: list[str], observation: str = "o") -> Trajectory:
    """A trajectory of `actions`, every state showing `observation`: for tests that only
    replay or count the expert's actions."""
    return Trajectory.from_json({"task": task, "task_description": "", "steps": [
        {"observation": observation, "expert_action": a} for a in actions]})
