"""Critic pairs sampled by another model, reused without re-collection (the paper's cross-size
transfer: pairs collected with Qwen3-8B train Qwen3-4B).

`alternatives.pairs_from` names a run folder (its `pairs/`), a pairs folder, or a training pairs
file whose folder also holds `id_test.jsonl`. The pairs must come from the same expert data as
this run (same environment, tasks and expert actions): each pair's state is checked against
this run's trajectories, so a mismatch is one clear error, not a silently wrong critic.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from actrain.data.verify import trajectory_prefixes
from actrain.errors import ActrainError
from actrain.records import Pair, Trajectory
from actrain.runtime.io import read_json, read_pairs


def pairs_folder(source: str) -> Path:
    """The folder holding `train.jsonl` and `id_test.jsonl` that `source` names."""
    path = Path(source)
    from actrain.runtime.run_folder import RunFolder

    candidates = (RunFolder(path).train_pairs.parent, path) if path.is_dir() else (path.parent,)
    for folder in candidates:
        if (folder / "train.jsonl").is_file() and (folder / "id_test.jsonl").is_file():
            return folder
    raise ActrainError(f"alternatives.pairs_from: {source} holds no pairs (a run folder, a "
                       "pairs folder or a train.jsonl with id_test.jsonl beside it)")


def pairs_fingerprint(source: str) -> str:
    """What the reused pairs are: the content of both files, wherever they are kept."""
    folder = pairs_folder(source)
    digest = hashlib.sha256()
    for name in ("train.jsonl", "id_test.jsonl"):
        digest.update((folder / name).read_bytes())
    return digest.hexdigest()[:16]


def source_model(folder: Path) -> str:
    """The model that proposed the alternatives, read from the source run's config."""
    config = folder.parent / "config.json"
    if not config.exists():
        return "unknown (no config.json beside the pairs)"
    data = read_json(config)
    policy = data.get("alternatives", {}).get("policy", "base")
    return data.get("model", "unknown") if policy == "base" else policy


def check_pairs_match(pairs: Sequence[Pair], trajectories: Sequence[Trajectory],
                      where: str) -> None:
    """Every pair's task, step and expert action must be a state of `trajectories`."""
    actions = trajectory_prefixes(trajectories)
    for pair in pairs:
        path = actions.get(pair.task)
        if path is None or not 0 <= pair.step < len(path) \
                or path[pair.step] != pair.expert_action:
            raise ActrainError(
                f"alternatives.pairs_from: {where} has a pair (task {pair.task!r}, step "
                f"{pair.step}) that is not a state of this run's expert trajectories: reuse "
                "pairs collected with the same env and data settings")


def reuse_pairs(source: str, train_traj: Sequence[Trajectory],
                eval_traj: Sequence[Trajectory]) -> tuple[dict[str, list[Pair]], dict[str, Any]]:
    """The source's pairs by split, checked against this run's trajectories, and their stats
    (the source's own, plus where they came from and which model sampled them)."""
    folder = pairs_folder(source)
    pairs = {}
    for split, trajectories in (("train", train_traj), ("id_test", eval_traj)):
        pairs[split] = read_pairs(folder / f"{split}.jsonl")
        check_pairs_match(pairs[split], trajectories, str(folder / f"{split}.jsonl"))
    stats_file = folder / "stats.json"  # (not a run folder) any pairs folder, as `pairs/` holds
    stats = read_json(stats_file) if stats_file.exists() else {}
    origin = {"reused_from": str(folder), "source_model": source_model(folder)}
    return pairs, {split: {**stats.get(split, {}), **origin} for split in pairs}
