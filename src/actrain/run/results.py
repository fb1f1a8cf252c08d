"""Everything a run has measured so far, gathered from its folder: the report's input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from actrain.config.schema import to_dict
from actrain.records import EpisodeRecord, NextActionRecord
from actrain.run.layout import RunLayout
from actrain.runtime.io import (
    read_episodes,
    read_json,
    read_jsonl,
    read_next_action_records,
    read_pairs,
    read_trajectories,
)
from actrain.stages.inputs import method_stages, rollout_reasoning


def gather_results(layout: RunLayout, methods: list[str], seeds: list[int],
                   stages: dict[str, Any]) -> dict[str, Any]:
    """By method and seed: agent summaries, critic metrics, training logs; `stages` is the
    run's book of fingerprints and timings."""
    from actrain.eval.agent_settings import protocol

    config = layout.config
    agent: dict[str, dict[str, Any]] = {}
    agent_ids: dict[str, dict[str, str]] = {}  # where each row's episodes are filed
    critic: dict[str, Any] = {}
    critic_hard: dict[str, Any] = {}  # the same checkpoints on the hard critic set
    training: dict[str, Any] = {}
    for method in methods:
        prefix = method_stages(method)
        for seed in seeds:
            agent_id = layout.agent_id(seed, prefix, rollout_reasoning(method))
            path = layout.agent_file(agent_id)
            if path.exists():
                agent.setdefault(method, {})[str(seed)] = read_json(path)
                agent_ids.setdefault(method, {})[str(seed)] = agent_id
            for i in range(len(prefix) + 1):
                sub = prefix[:i]
                ckpt = layout.checkpoint_id(seed, sub)
                if layout.critic_file(ckpt).exists():
                    critic[ckpt] = read_json(layout.critic_file(ckpt))
                if layout.hard_critic_file(ckpt).exists():
                    critic_hard[ckpt] = read_json(layout.hard_critic_file(ckpt))
                history = layout.stage_dir(seed, sub) / "log_history.json"
                if sub and history.exists():
                    curve = layout.stage_dir(seed, sub) / "critic_curve.jsonl"
                    length = layout.stage_dir(seed, sub) / "length.json"
                    training[ckpt] = {
                        "stage": sub[-1],
                        "log_history": read_json(history),
                        "critic_curve": read_jsonl(curve) if curve.exists() else [],
                        "length": read_json(length) if length.exists() else {},
                    }
    return {
        "name": config.name,
        "methods": methods,
        "seeds": seeds,
        "protocol": protocol(config),
        "config": to_dict(config),
        "agent": agent,
        "agent_ids": agent_ids,
        "paired": paired_results(layout, agent_ids, list(config.rollout.splits)),
        "critic": critic,
        "critic_hard": critic_hard,
        "rules": rule_results(layout) if critic else {},
        "training": training,
        "stages": stages,
        "data": {
            "trajectories": _maybe_json(layout.stats("trajectories")),
            "pairs": _maybe_json(layout.stats("pairs")),
            "rationales": _maybe_json(layout.stats("rationales")),
            "hard_set": _maybe_json(layout.stats("hard")),
        },
    }


def rule_results(layout: RunLayout) -> dict[str, Any]:
    """The no-model critics (`eval/rule_critics.py`) on the run's held-out pairs and on the hard
    set, learnt from its training pairs and trajectories."""
    from actrain.eval.rule_critics import rule_accuracies

    if not (layout.train_pairs.exists() and layout.train_traj.exists()):
        return {}
    k = layout.config.critic.candidates
    train, trajectories = read_pairs(layout.train_pairs), read_trajectories(layout.train_traj)
    sets = {"heldout": layout.eval_pairs, "hard": layout.hard_pairs}
    return {name: rule_accuracies(train, trajectories, read_pairs(path), k if name ==
                                  "heldout" else 2)
            for name, path in sets.items() if path.exists()}


def paired_results(layout: RunLayout, agent_ids: dict[str, dict[str, str]],
                   splits: list[str]) -> list[dict[str, Any]]:
    """Each ACT gain of `report.agent.gains` whose two methods were measured, per split: the
    paired next-action and success differences with their bootstrap intervals
    (`intervals.paired_comparisons`), from every agent's per-state and per-episode files."""
    from actrain.eval.intervals import paired_comparisons
    from actrain.report.agent import gains

    compared = gains(agent_ids)
    wanted = {m for first, second, _ in compared for m in (first, second)}
    next_action: dict[str, dict[str, list[NextActionRecord]]] = {}
    episodes: dict[str, dict[str, list[EpisodeRecord]]] = {}
    for method, by_seed in agent_ids.items():
        if method not in wanted:
            continue
        for seed, agent_id in by_seed.items():
            states = layout.next_action_file(agent_id)
            if states.exists():
                next_action.setdefault(method, {})[seed] = read_next_action_records(states)
            played = layout.episodes_file(agent_id)
            if played.exists():
                episodes.setdefault(method, {})[seed] = read_episodes(played)
    return paired_comparisons(next_action, episodes, compared, splits)


def _maybe_json(path: Path) -> Any:
    return read_json(path) if path.exists() else {}
