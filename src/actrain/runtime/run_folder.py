"""Where each output of a run lives inside its folder (`runs/<name>/`).

    trajectories/{train,id_test}.jsonl   pairs/{train,id_test}.jsonl   stages.json
    trajectories/next_action_<split>.jsonl   agent/<agent id>.next_action.jsonl
    hard/{trajectories,pairs}.jsonl   (the hard critic set)   critic/<checkpoint id>.hard.json
    outcomes/train.jsonl   rationales/train.jsonl   (Early Experience baselines only)
    seed<N>/<stage>-<stage>/checkpoint   critic/<checkpoint id>.json    agent/<agent id>.json
    config.json   results.json   report.md   plots/<name>.png   <step folder>/stats.json

`RunFolder` is every path of a run folder and needs only the folder: the data steps, the
report and the CLI read run folders through it, below the run itself. `run/layout.py`'s
`RunLayout` adds the ids that depend on the run's config. Nothing else spells out a path inside
a run folder.
"""

from __future__ import annotations

from pathlib import Path


class RunFolder:
    """The paths of a run's outputs inside its folder `dir`."""

    def __init__(self, folder: Path) -> None:
        self.dir = Path(folder)

    @property
    def config_file(self) -> Path:
        """The resolved config the run was last started with."""
        return self.dir / "config.json"

    @property
    def stages_file(self) -> Path:
        """Which outputs are done, and from what (`run.keys.StageBook`)."""
        return self.dir / "stages.json"

    @property
    def results_file(self) -> Path:
        return self.dir / "results.json"

    @property
    def report_file(self) -> Path:
        return self.dir / "report.md"

    def plot(self, name: str) -> Path:
        """A report figure, `plots/<name>.png` (the report links it by that relative path)."""
        return self.dir / "plots" / f"{name}.png"

    def stats(self, step: str) -> Path:
        """A data step's statistics: `trajectories`, `next_action` (beside the trajectories),
        `pairs`, `hard` or `rationales`."""
        if step == "next_action":
            return self.dir / "trajectories" / "next_action_stats.json"
        return self.dir / step / "stats.json"

    def split_traj(self, split: str) -> Path:
        """Expert trajectories of a split the collect step wrote (`train`, `id_test`)."""
        return self.dir / "trajectories" / f"{split}.jsonl"

    def split_pairs(self, split: str) -> Path:
        """Pairs of a split the pairs step wrote (`train`, `id_test`)."""
        return self.dir / "pairs" / f"{split}.jsonl"

    @property
    def train_traj(self) -> Path:
        return self.split_traj("train")

    @property
    def eval_traj(self) -> Path:
        return self.split_traj("id_test")

    @property
    def train_pairs(self) -> Path:
        return self.split_pairs("train")

    @property
    def eval_pairs(self) -> Path:
        return self.split_pairs("id_test")

    @property
    def hard_traj(self) -> Path:
        """Expert trajectories of the hard critic set's held-out tasks."""
        return self.dir / "hard" / "trajectories.jsonl"

    @property
    def hard_pairs(self) -> Path:
        """The hard critic set: same-kind alternatives verified worse (data/hard_pairs.py)."""
        return self.dir / "hard" / "pairs.jsonl"

    def next_action_traj(self, split: str) -> Path:
        """Held-out expert states of a split for every agent's next-action accuracy."""
        return self.dir / "trajectories" / f"next_action_{split}.jsonl"

    @property
    def train_outcomes(self) -> Path:
        """Both actions of each training pair, played (Early Experience's branches)."""
        return self.dir / "outcomes" / "train.jsonl"

    @property
    def train_rationales(self) -> Path:
        return self.dir / "rationales" / "train.jsonl"

    def critic_file(self, checkpoint_id: str) -> Path:
        return self.dir / "critic" / f"{checkpoint_id}.json"

    def hard_critic_file(self, checkpoint_id: str) -> Path:
        return self.dir / "critic" / f"{checkpoint_id}.hard.json"

    def agent_file(self, agent_id: str) -> Path:
        return self.dir / "agent" / f"{agent_id}.json"

    def next_action_file(self, agent_id: str) -> Path:
        """The agent's action at every held-out expert state: split, task, step, both actions,
        correct."""
        return self.dir / "agent" / f"{agent_id}.next_action.jsonl"

    def predictions_file(self, metrics_file: Path) -> Path:
        """A critic evaluation's per-item predictions, beside its metrics file."""
        return metrics_file.with_name(metrics_file.name.removesuffix(".json") +
                                      ".predictions.jsonl")

    def critic_predictions(self, checkpoint_id: str) -> Path:
        return self.predictions_file(self.critic_file(checkpoint_id))

    def episodes_file(self, agent_id: str) -> Path:
        """The agent's episodes: transcript, won, score, steps, invalid actions."""
        return self.dir / "agent" / f"{agent_id}.episodes.jsonl"

    def stage_dir(self, seed: int, prefix: tuple[str, ...]) -> Path:
        return self.dir / f"seed{seed}" / "-".join(prefix)

    def full_weights(self, seed: int, prefix: tuple[str, ...]) -> Path:
        """A LoRA checkpoint merged onto its base, for a stage that needs a folder of full
        weights (TRL's colocated vLLM engine starts from the model's folder)."""
        return self.stage_dir(seed, prefix) / "checkpoint-full"

    @staticmethod
    def checkpoint_id(seed: int, prefix: tuple[str, ...]) -> str:
        return "base" if not prefix else f"seed{seed}-{'-'.join(prefix)}"
