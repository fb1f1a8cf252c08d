"""Three two-step expert trajectories ("take shirt", "open wardrobe"), as
`trajectories/*.jsonl` holds them, for tests that train a stage on a few states."""

from __future__ import annotations

SHIRT_TRAJECTORIES = [
    {"task": f"train:{i}", "task_description": "Put the shirt away.", "won": True, "score": 1.0,
     "steps": [{"observation": "You are in the bedroom. You see a shirt.",
                "admissible": ["inventory", "take shirt"], "expert_action": "take shirt"},
               {"observation": "You take the shirt.",
                "admissible": ["inventory", "open wardrobe"], "expert_action": "open wardrobe"}]}
    for i in range(3)
]
