"""Everything a run has measured so far, gathered from its folder: the report's input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from actrain.config import to_dict
from actrain.io import read_json, read_jsonl
from actrain.methods import method_stages, rollout_reasoning
from actrain.run_layout import RunLayout


def gather_results(layout: RunLayout, methods: list[str], seeds: list[int],
                   stages: dict[str, Any]) -> dict[str, Any]:
    """By method and seed: agent summaries, critic metrics, training logs; `stages` is the
    run's book of fingerprints and timings."""
    from actrain.rollouts import protocol

    config = layout.config
    agent: dict[str, dict[str, Any]] = {}
    agent_ids: dict[str, dict[str, str]] = {}  # where each row's episodes are filed
    critic: dict[str, Any] = {}
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
        "critic": critic,
        "training": training,
        "stages": stages,
        "data": {
            "trajectories": _maybe_json(layout.dir / "trajectories" / "stats.json"),
            "pairs": _maybe_json(layout.dir / "pairs" / "stats.json"),
            "rationales": _maybe_json(layout.dir / "rationales" / "stats.json"),
        },
    }


def _maybe_json(path: Path) -> Any:
    return read_json(path) if path.exists() else {}
