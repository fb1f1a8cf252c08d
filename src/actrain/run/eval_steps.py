"""The evaluation steps of a run: a checkpoint judged as a critic (held-out pairs, hard set),
and played as an agent (rollouts, next-action accuracy on held-out expert states). Each is a
function of the run's context, skipped when its output is current."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from actrain.config.schema import EvalConfig
from actrain.errors import ActrainError
from actrain.run.context import RunContext
from actrain.runtime.io import read_pairs, read_trajectories, write_json, write_jsonl

log = logging.getLogger("actrain")


def evaluate_critic(ctx: RunContext, seed: int, prefix: tuple[str, ...]) -> None:
    """The checkpoint judged on the run's held-out pairs, then on the hard critic set."""
    from actrain.eval.critic import hard_set_evaluation

    layout, keys = ctx.layout, ctx.keys
    ckpt = layout.checkpoint_id(seed, prefix)
    _judge(ctx, seed, prefix, layout.eval_pairs, layout.critic_file(ckpt), "critic",
           keys.critic_key(seed, prefix), ctx.config.eval, "critic", "")
    if layout.hard_pairs.exists():
        _judge(ctx, seed, prefix, layout.hard_pairs, layout.hard_critic_file(ckpt),
               "hard critic", keys.hard_critic_key(seed, prefix),
               hard_set_evaluation(ctx.config.eval),
               "critic_hard", " on the hard set")


def _judge(ctx: RunContext, seed: int, prefix: tuple[str, ...], pairs: Path, out: Path,
           step: str, key: str, evaluation: EvalConfig, tracked: str, which: str) -> None:
    """One critic evaluation step: `out` (metrics) and its predictions beside it, logged to
    the trackers as `tracked`."""
    c = ctx.config
    ckpt = ctx.layout.checkpoint_id(seed, prefix)

    def work() -> None:
        from actrain.envs import instructions_of
        from actrain.eval.critic import evaluate_critic

        with ctx.loaded(seed, prefix) as (model, tokenizer):
            metrics, predictions = evaluate_critic(
                model, tokenizer, read_pairs(pairs), c.critic, evaluation, c.dtype, c.seed,
                instructions=instructions_of(c.env),
            )
            del model  # the block's end can then free it
        write_jsonl(ctx.layout.predictions_file(out), predictions)
        write_json(out, metrics)
        ctx.tracker.log(ckpt, {tracked: metrics})
        log.info("critic %s%s: balanced accuracy %.3f", ckpt, which,
                 metrics["balanced_accuracy"] or 0)

    ctx.run_step(f"{step} {ckpt}", key, [out], work)


def _heldout_states(ctx: RunContext) -> dict[str, list[Any]]:
    """The expert states each agent's next action is measured on: every rollout split's
    (`rollout.next_action_states`), or the `id_test` trajectories where that is 0."""
    c, layout = ctx.config, ctx.layout
    if c.rollout.next_action_states <= 0:
        return {"id_test": read_trajectories(layout.eval_traj)}
    missing = [str(layout.next_action_traj(split)) for split in c.rollout.splits
               if not layout.next_action_traj(split).exists()]
    if missing:
        raise ActrainError(f"no held-out next-action states ({', '.join(missing)}): the "
                           f"collect step gathers them")
    return {split: read_trajectories(layout.next_action_traj(split))
            for split in c.rollout.splits}


def evaluate_agent(ctx: RunContext, seed: int, prefix: tuple[str, ...],
                   thinking: bool | None = None) -> None:
    """Roll the checkpoint out; `thinking` True (a `-cot` method) has it reason first, False
    (a `-direct` method) act at once, None as `data.actor_reasoning` says.

    Its next action is also measured at every held-out expert state of each split
    (`rollout.next_action_states`; 0: the `id_test` trajectories), each state's in
    `agent/<id>.next_action.jsonl`. That file is an output of the step, so an agent measured
    before it existed is measured again."""
    c, layout = ctx.config, ctx.layout
    agent = layout.agent_id(seed, prefix, thinking)
    per_split = c.rollout.next_action_states > 0

    def work() -> None:
        from actrain.eval.agent_settings import agent_settings
        from actrain.eval.next_action import (
            next_action_by_split,
            next_action_records,
            next_action_summary,
        )
        from actrain.eval.rollouts import evaluate_agent

        states = _heldout_states(ctx)
        with ctx.loaded(seed, prefix) as (model, tokenizer):
            summary, episodes = evaluate_agent(model, tokenizer, c, seed, thinking)
            records = next_action_records(model, tokenizer, states,
                                          agent_settings(c, seed, thinking))
            del model  # the block's end can then free it
        summary["next_action"] = (next_action_by_split(records, list(states)) if per_split
                                  else next_action_summary(records))
        write_jsonl(layout.episodes_file(agent), episodes)
        write_jsonl(layout.next_action_file(agent), records)
        write_json(layout.agent_file(agent), {"checkpoint": layout.checkpoint(seed, prefix),
                                              **summary})
        measured = {k: v for k, v in summary.items() if k != "protocol"}
        ctx.tracker.log(agent, {"agent": measured})
        log.info("agent %s: %s", agent, ", ".join(_agent_line(summary, s)
                                                  for s in c.rollout.splits))

    ctx.run_step(f"agent {agent}", ctx.keys.agent_key(seed, prefix, thinking),
                 [layout.agent_file(agent), layout.next_action_file(agent)], work)


def _agent_line(summary: dict[str, Any], split: str) -> str:
    """A split's figures for the progress log: success over its episodes, and the next-action
    accuracy where it was measured (`rollout.episodes: 0` plays none)."""
    parts = []
    if "success_rate" in summary[split]:
        parts.append(f"success {summary[split]['success_rate']:.2f}")
    nxt = summary.get("next_action", {}).get(split)
    if isinstance(nxt, dict) and nxt.get("accuracy") is not None:
        parts.append(f"next action {nxt['accuracy']:.2f}")
    return f"{split} " + " ".join(parts or ["-"])
