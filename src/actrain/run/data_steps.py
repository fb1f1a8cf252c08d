"""The work of each data step: expert trajectories, held-out next-action states, pairs, the hard
critic set, and (Early Experience) the pairs' outcomes and the teacher's rationales.

Each is a function of the run's context that writes its outputs; which steps run, in what order
and from what fingerprint is the table in `run/step_table.py`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from tqdm import tqdm

from actrain.errors import ActrainError
from actrain.run.context import RunContext
from actrain.runtime import distributed
from actrain.runtime.io import (
    read_outcomes,
    read_pairs,
    read_trajectories,
    write_json,
    write_jsonl,
)

log = logging.getLogger("actrain")


def collect(ctx: RunContext) -> None:
    """The expert (or oracle-explored) trajectories of the training and `id_test` tasks."""
    from actrain.data.offpath import collect_oracle_trajectories
    from actrain.data.trajectories import collect_trajectories
    from actrain.envs import TextEnv, from_config

    c, layout = ctx.config, ctx.layout

    def make_env() -> TextEnv:
        return from_config(c.env)

    if c.data.source not in ("expert", "oracle"):
        raise ActrainError(f"data.source must be 'expert' or 'oracle', got {c.data.source!r}")

    def collect_split(env: TextEnv, split: str, num_tasks: int, path: Path) -> dict:
        if c.data.source == "oracle":
            return collect_oracle_trajectories(env, split, num_tasks, path, c.data.explore,
                                               c.seed)
        return collect_trajectories(env, split, num_tasks, path, make_env=make_env,
                                    workers=distributed.node_share(c.data.collect_workers))

    with make_env() as env:
        stats = {
            "train": collect_split(env, "train", c.data.train_tasks, layout.train_traj),
            "id_test": collect_split(env, "id_test", c.data.eval_tasks, layout.eval_traj),
        }
    write_json(layout.stats("trajectories"), stats)


def _states_of(env: Any, split: str, wanted: int) -> tuple[list[Any], dict[str, int]]:
    """Won expert trajectories of the split's tasks, in its order, until at least `wanted`
    states (their steps) are gathered."""
    from actrain.data.trajectories import collect_expert_trajectory

    tasks, records, states, played = env.expert_tasks(split), [], 0, 0
    bar = tqdm(total=wanted, desc=f"next-action states ({split})", unit="state", leave=False)
    while states < wanted and played < len(tasks):
        chunk = tasks[played : played + 32]
        env.prepare(chunk)  # generated games: made in one batch
        for task in chunk:
            played += 1
            record = collect_expert_trajectory(env, task)
            if record.won:  # a lost expert path is no label to measure against
                records.append(record)
                states += len(record.steps)
                bar.update(len(record.steps))
            if states >= wanted:
                break
    bar.close()
    if states < wanted:
        log.warning("split %s has %d expert states in %d tasks, fewer than "
                    "rollout.next_action_states=%d", split, states, len(tasks), wanted)
    return records, {"tasks": played, "kept": len(records), "states": states}


def next_action_states(ctx: RunContext) -> None:
    """Held-out expert states of every rollout split, on which each agent's next action is
    compared with the expert's (`rollout.next_action_states`)."""
    from actrain.envs import from_config

    if not distributed.is_main():  # replaying expert paths is cheap: one process does it
        return
    r, stats = ctx.config.rollout, {}
    with from_config(ctx.config.env) as env:
        for split in r.splits:
            records, stats[split] = _states_of(env, split, r.next_action_states)
            write_jsonl(ctx.layout.next_action_traj(split), records)
    write_json(ctx.layout.stats("next_action"), stats)


def pairs(ctx: RunContext) -> None:
    """Each expert state's alternatives, from the policy (`alternatives.policy`) or another
    run's pairs (`alternatives.pairs_from`), as critic pairs."""
    from actrain.data.alternatives import make_pairs

    c, layout = ctx.config, ctx.layout
    if c.alternatives.pairs_from:
        from actrain.data.reused_pairs import reuse_pairs

        reused, stats = reuse_pairs(c.alternatives.pairs_from,
                                    read_trajectories(layout.train_traj),
                                    read_trajectories(layout.eval_traj))
        write_jsonl(layout.train_pairs, reused["train"])
        write_jsonl(layout.eval_pairs, reused["id_test"])
        write_json(layout.stats("pairs"), stats)
        ctx.tracker.log("data", {"pairs": stats})
        return
    policy = c.alternatives.policy
    model, tokenizer = ctx.models.base() if policy == "base" else ctx.models.generator(policy)
    stats = {}
    for split, src, dst, both in (
        ("train", layout.train_traj, layout.train_pairs, False),
        ("id_test", layout.eval_traj, layout.eval_pairs, True),
    ):
        made, stats[split] = make_pairs(
            model, tokenizer, read_trajectories(src), c, both_orders=both,
            seed=c.seed + (0 if split == "train" else 1),
        )
        write_jsonl(dst, made)
    write_json(layout.stats("pairs"), stats)
    ctx.tracker.log("data", {"pairs": stats})


def hard_set(ctx: RunContext) -> None:
    """The hard critic set (data/hard_pairs.py): same-kind alternatives the game shows worse."""
    from actrain.data.hard_pairs import hard_pairs
    from actrain.data.trajectories import collect_expert_trajectory, first_tasks
    from actrain.envs import from_config

    c, layout, h = ctx.config, ctx.layout, ctx.config.hard_set
    with from_config(c.env) as env:
        tasks = first_tasks(env, h.split, h.tasks)  # every process: it holds a barrier
        if not distributed.is_main():  # replaying games is cheap: one process does it
            return
        trajectories = [t for t in (collect_expert_trajectory(env, task) for task in
                                    tqdm(tasks, desc=f"expert trajectories ({h.split})",
                                         unit="task", leave=False)) if t.won]
        made, stats = hard_pairs(env, trajectories, c.data.history_len, h.per_state, seed=0,
                                 max_checks=h.max_checks)
    write_jsonl(layout.hard_traj, trajectories)
    write_jsonl(layout.hard_pairs, made)
    write_json(layout.stats("hard"),
               {"tasks": len(tasks), "trajectories": len(trajectories), **stats})
    ctx.tracker.log("data", {"hard_set": stats})


def outcomes(ctx: RunContext) -> None:
    """Both actions of every training pair played from its state (Early Experience)."""
    from actrain.data.branches import branch_outcomes
    from actrain.envs import from_config

    layout = ctx.layout
    if distributed.is_main():  # stepping environments is cheap: one process does it
        with from_config(ctx.config.env) as env:
            records = branch_outcomes(env, read_pairs(layout.train_pairs),
                                      read_trajectories(layout.train_traj))
        write_jsonl(layout.train_outcomes, records)


def rationales(ctx: RunContext) -> None:
    """The teacher's rationale for every branched pair (self-reflection's data)."""
    from actrain.data.rationales import write_rationales
    from actrain.stages.inputs import actor_view

    c, layout = ctx.config, ctx.layout
    teacher = c.sr.teacher
    model, tokenizer = ctx.models.base() if teacher == "base" else ctx.models.generator(teacher)
    records, stats = write_rationales(
        model, tokenizer, read_outcomes(layout.train_outcomes), actor_view(c),
        c.sr.max_new_tokens, c.eval.batch_size, c.dtype,
    )
    if distributed.is_main():
        write_jsonl(layout.train_rationales, records)
        write_json(layout.stats("rationales"),
                   {**stats, "teacher": c.model if teacher == "base" else teacher})
