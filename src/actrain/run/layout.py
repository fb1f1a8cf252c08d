"""A run's checkpoint and agent ids, from its config, over the paths of its folder
(`runtime/run_folder.py`, which owns every path inside a run folder)."""

from __future__ import annotations

from actrain.config.schema import RunConfig
from actrain.runtime.run_folder import RunFolder


class RunLayout(RunFolder):
    """`RunFolder` of a run's config, with the ids its checkpoints and agents are filed under."""

    def __init__(self, config: RunConfig) -> None:
        super().__init__(config.run_dir)
        self.config = config

    def checkpoint(self, seed: int, prefix: tuple[str, ...]) -> str:
        """The model a prefix ends with: the base model id for `()`, else a checkpoint folder."""
        if not prefix:
            return self.config.model
        return str(self.stage_dir(seed, prefix) / "checkpoint")

    def agent_id(self, seed: int, prefix: tuple[str, ...], thinking: bool | None = None) -> str:
        """The checkpoint's id, plus `-cot` when its rollouts are made to reason first and
        `-direct` when made to act at once (None: the run's own `data.actor_reasoning`)."""
        # Greedy rollouts of the base model are the same for every seed: evaluate them once.
        if not prefix and self.config.rollout.temperature > 0:
            agent = f"seed{seed}-base"
        else:
            agent = self.checkpoint_id(seed, prefix)
        return agent + {None: "", True: "-cot", False: "-direct"}[thinking]
