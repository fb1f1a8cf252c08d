"""Critic pairs: the expert states, the filtering of each state's candidate alternatives, and the
pair records built from them (no model here; `data/alternatives.py` asks the policy).

At every expert state the initial policy (the model prompted as the agent) proposes alternatives:
with `mode: sample` it writes K candidate actions, batched across states; with `mode: admissible`
it is shown the admissible actions and one is drawn from its own probabilities of writing each
(the policy's distribution restricted to valid actions, so alternatives are its plausible mistakes
rather than random fallbacks). Candidates equal to the expert action (after normalising) are
dropped, non-admissible ones optionally too, duplicates merged, and up to `per_state` kept. When
none survive, a random admissible non-expert action is used only if the config allows it, and
every such fallback is counted. Each kept (state, expert, alternative) triple becomes a pair with
a seeded random shown order; evaluation pairs are written in both orders.

Which states get a pair is the `alternatives.rule`: `first_valid` keeps a state unless none of
its K samples is usable, so a state where the policy writes the expert's action with probability
p is kept with probability 1 - p^K; `paper` draws one sample and drops the state when it equals
the expert's action (kept with probability 1 - p), which leaves fewer easy states. The share of
states kept is in the stats under either rule, so the two distributions can be compared.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from actrain.config.schema import AlternativeConfig
from actrain.data.trajectories import iter_states
from actrain.prompts import State, first_word, normalise_action, parse_action
from actrain.records import Pair, Trajectory

DROP_REASONS = ("malformed", "equals_expert", "not_admissible", "duplicate")


@dataclass
class StateRecord:
    """One expert state, flattened for batched sampling."""

    task: str
    step: int
    state: State
    expert_action: str


def expert_states(trajectories: Sequence[Trajectory], history_len: int) -> list[StateRecord]:
    return [
        StateRecord(traj.task, step, state, expert)
        for traj in Trajectory.coerce_all(trajectories)
        for step, state, expert in iter_states(traj, history_len)
    ]


def filter_candidates(
    candidates: Sequence[str | None],
    expert_action: str,
    admissible: Sequence[str],
    admissible_only: bool,
    keep: int,
) -> tuple[list[str], dict[str, int]]:
    """Drop malformed, expert-equal, duplicate and (optionally) non-admissible candidates.

    Returns the kept alternatives (in sampling order) and counts of why the others were dropped.
    Admissible candidates are returned in the environment's own spelling.
    """
    expert_key = normalise_action(expert_action)
    admissible_by_key = {normalise_action(a): a for a in admissible}
    kept: list[str] = []
    seen: set[str] = set()
    dropped = dict.fromkeys(DROP_REASONS, 0)
    for candidate in candidates:
        if candidate is None:
            dropped["malformed"] += 1
            continue
        key = normalise_action(candidate)
        if key == expert_key:
            dropped["equals_expert"] += 1
        elif key in seen:
            dropped["duplicate"] += 1
        elif admissible_only and key not in admissible_by_key:
            dropped["not_admissible"] += 1
        else:
            seen.add(key)
            kept.append(admissible_by_key.get(key, candidate.strip()))
    return kept[:keep], dropped


def random_alternative(
    expert_action: str, admissible: Sequence[str], rng: random.Random
) -> str | None:
    expert_key = normalise_action(expert_action)
    options = [a for a in admissible if normalise_action(a) != expert_key]
    return rng.choice(options) if options else None


def same_kind(expert: str, admissible: Sequence[str]) -> list[str]:
    """The admissible actions with the expert action's first word, other than the expert's."""
    verb, key = first_word(expert), normalise_action(expert)
    return [a for a in admissible if first_word(a) == verb and normalise_action(a) != key]


def kind_options(record: StateRecord, kind: str) -> list[str]:
    """The admissible actions other than the expert's that `alternatives.kind` lets a state's
    alternative be: all of them (any), the expert's kind (same: a state without one gets none),
    or that kind where the state has one (prefer_same). Draws and random fallbacks both obey it."""
    expert = normalise_action(record.expert_action)
    every = [a for a in record.state.admissible if normalise_action(a) != expert]
    if kind == "any":
        return every
    same = same_kind(record.expert_action, record.state.admissible)
    return same if same or kind == "same" else every


def pair_record(
    record: StateRecord, alternative: str, source: str, expert_first: bool
) -> Pair:
    """One line of a pairs file: the state, both actions in their shown order, and the label
    (the position of the expert's action). `source` says where the alternative came from."""
    return Pair.make(
        task=record.task, step=record.step, task_description=record.state.task,
        history=record.state.history, observation=record.state.observation,
        context=record.state.context, admissible=record.state.admissible,
        expert_action=record.expert_action, alternative=alternative,
        alternative_source=source, expert_first=expert_first,
    )


def _new_stats(rule: str, states: int) -> dict[str, Any]:
    return {
        "rule": rule,
        "states": states,
        "candidates": 0,
        **dict.fromkeys(DROP_REASONS, 0),
        "from_policy": 0,
        "random_fallback": 0,
        "states_without_alternative": 0,
        "states_dropped_equal_expert": 0,  # rule paper: the one sample was the expert's action
        "states_kept": 0,
    }


def _state_alternatives(
    record: StateRecord,
    completions: Sequence[str],
    config: AlternativeConfig,
    parsed: bool,
    rng: random.Random,
    stats: dict[str, Any],
) -> list[tuple[str, str]]:
    """The (alternative, source) pairs of one state, counted into `stats`: the policy's usable
    candidates, or a random admissible fallback where the config allows one."""
    paper = config.rule == "paper"
    candidates = (
        list(completions) if parsed
        else [parse_action(c, prefilled=not config.reasoning) for c in completions]
    )
    if paper:
        candidates = candidates[:1]
    stats["candidates"] += len(candidates)
    kept, dropped = filter_candidates(
        candidates,
        record.expert_action,
        record.state.admissible,
        config.admissible_only,
        config.per_state,
    )
    for reason, count in dropped.items():
        stats[reason] += count
    sources = ["policy"] * len(kept)
    equal_expert = paper and dropped["equals_expert"] > 0
    if not kept and config.random_fallback and not equal_expert:
        fallback = random_alternative(record.expert_action, kind_options(record, config.kind), rng)
        if fallback is not None:
            kept, sources = [fallback], ["random"]
    if equal_expert:
        stats["states_dropped_equal_expert"] += 1
    elif not kept:
        stats["states_without_alternative"] += 1
    if kept:
        stats["states_kept"] += 1
    return list(zip(kept, sources, strict=True))


def build_pairs(
    states: Sequence[StateRecord],
    sampled: Sequence[Sequence[str]],
    config: AlternativeConfig,
    seed: int,
    both_orders: bool,
    parsed: bool = False,
) -> tuple[list[Pair], dict[str, Any]]:
    """Turn sampled completions into labelled pairs; deterministic for a given seed.

    With `parsed`, `sampled` holds candidate actions rather than completions to parse. Under
    `rule: paper` only the first completion of a state is read, and a state whose sample equals
    the expert's action gets no pair (no random fallback either: that would undo the rule).

    `both_orders` writes every pair twice (expert first, expert second), which evaluation uses
    so that a constant-position answer scores exactly 50%; otherwise the order is a seeded coin.
    """
    rng = random.Random(seed)
    pairs: list[Pair] = []
    stats = _new_stats(config.rule, len(states))
    for record, completions in zip(states, sampled, strict=True):
        for alternative, source in _state_alternatives(record, completions, config, parsed,
                                                       rng, stats):
            stats["from_policy" if source == "policy" else "random_fallback"] += 1
            orders = [True, False] if both_orders else [rng.random() < 0.5]
            for expert_first in orders:
                pairs.append(pair_record(record, alternative, source, expert_first))
    stats["states_kept_share"] = round(stats["states_kept"] / len(states), 4) if states else 0.0
    return pairs, stats
