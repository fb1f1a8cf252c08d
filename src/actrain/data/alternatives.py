"""Alternatives from the initial policy (sampled, or drawn from its scores of the admissible
actions) at every expert state, and the critic pairs built from them.

The pairs of a config are the same whatever the number of processes: sampling runs in fixed
chunks of the states, each seeded by where it starts, and the chunks (not the states) are split
over the processes; drawing and ordering happen once, on the gathered results.
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Sequence
from typing import Any

from tqdm import tqdm
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from actrain.data.pairs import build_pairs, expert_states, kind_options
from actrain.envs import instructions_of
from actrain.prompts import ActorView, first_word
from actrain.records import Pair, Trajectory
from actrain.runtime.distributed import map_sharded, world
from actrain.runtime.generation import generate, score_continuations


def policy_view(config: Any) -> ActorView:
    """How the policy is shown a state when it proposes alternatives: as the agent, with the
    environment's instructions, reasoning first where `alternatives.reasoning` says."""
    view = ActorView.of(config.data, instructions_of(config.env))
    return dataclasses.replace(view, reasoning=config.alternatives.reasoning)


def sample_alternatives(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    trajectories: Sequence[Trajectory],
    config: Any,  # RunConfig; typed loosely to keep this module free of the config import cycle
    seed: int,
    states: Sequence[Any] | None = None,
) -> tuple[list[Any], list[list[str]]]:
    """K completions of the actor prompt at every expert state (one for `rule: paper`), or at
    `states` (some of them) where given.

    Batched sampling draws one random stream per batch, so a state's samples depend on which
    states share its batch and on the seed of the call. Both are fixed here independently of
    the processes: the states are sorted by prompt length once, cut into chunks of one
    generation batch (`eval.batch_size` samples), and the chunk starting at sorted position
    `start` is generated alone with seed `seed + start * K`. vLLM seeds request `j` of a call
    with `seed + j * K`, so there every state gets its own seed and one chunk per process keeps
    its batching.
    """
    alt = config.alternatives
    samples = 1 if alt.rule == "paper" else alt.samples_per_state
    states = list(states) if states is not None else expert_states(trajectories,
                                                                    config.data.history_len)
    view = policy_view(config)
    prompts = [view.prompt(tokenizer, s.state) for s in states]
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    if hasattr(model, "llm"):  # a VLLMEngine: per-request seeds, one large call per process
        size = max(1, -(-len(order) // world()))
    else:  # exactly one batch of `generation.generate`
        size = max(1, config.eval.batch_size // max(1, samples))
    chunks = [(start, order[start : start + size]) for start in range(0, len(order), size)]

    def sample(mine: list[tuple[int, list[int]]]) -> list[list[list[str]]]:
        return [
            generate(
                model, tokenizer, [prompts[i] for i in chunk], num_samples=samples,
                max_new_tokens=alt.max_new_tokens, temperature=alt.temperature, top_p=alt.top_p,
                top_k=alt.top_k, batch_size=config.eval.batch_size, stop=["</action>"],
                autocast=config.dtype,
                seed=seed + start * samples, desc="sampling alternatives", progress=False,
            )
            for start, chunk in tqdm(mine, desc="sampling alternatives", unit="batch",
                                     leave=False)
        ]

    sampled: list[list[str]] = [[] for _ in prompts]
    for (_, chunk), done in zip(chunks, map_sharded(sample, chunks), strict=True):
        for index, completions in zip(chunk, done, strict=True):
            sampled[index] = completions
    return states, sampled


def draw_admissible_alternatives(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    trajectories: Sequence[Trajectory],
    config: Any,
    seed: int,
    states: Sequence[Any] | None = None,
) -> tuple[list[Any], list[list[str]]]:
    """At every expert state (or at `states`), draw `per_state` non-expert admissible actions
    from the policy (`mode: admissible`), or uniformly without a model (`mode: random`).

    The policy is shown the admissible actions (as the agent always is) and each one is scored by
    the log-probability of the policy writing it, closing tag included; alternatives are drawn
    without replacement with probability proportional to exp(logp / temperature).
    """
    alt = config.alternatives
    rng = random.Random(seed)
    states = list(states) if states is not None else expert_states(trajectories,
                                                                    config.data.history_len)

    def others(record: Any) -> list[str]:
        return kind_options(record, alt.kind)

    if alt.mode == "random":
        return states, [rng.sample(options, min(alt.per_state, len(options)))
                        for options in map(others, states)]
    shown = dataclasses.replace(policy_view(config), show_admissible=True)

    def score(mine: list[Any]) -> list[list[float]]:
        opening = "<action>" if alt.reasoning else ""
        return score_continuations(
            model, tokenizer, [shown.prompt(tokenizer, r.state) for r in mine],
            [[f"{opening}{a}</action>" for a in others(r)] for r in mine], config.dtype,
            desc="scoring admissible actions",
        )

    # The scoring is split over processes when launched as several; the draws are made from
    # the gathered scores in one order, so they are the same whatever the number of processes.
    all_scores = map_sharded(score, states)
    drawn: list[list[str]] = []
    for record, scores in zip(states, all_scores, strict=True):
        options = others(record)
        weights = [s / max(alt.temperature, 1e-6) for s in scores]
        picked: list[str] = []
        while options and len(picked) < alt.per_state:
            top = max(weights)
            index = rng.choices(range(len(options)), [math.exp(w - top) for w in weights])[0]
            picked.append(options.pop(index))
            weights.pop(index)
        drawn.append(picked)
    return states, drawn


def _drawn_pairs(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase,
    trajectories: Sequence[Trajectory], config: Any, both_orders: bool, seed: int,
    states: Sequence[Any] | None = None,
) -> tuple[list[Pair], dict[str, Any]]:
    """The pairs `config.alternatives` draws at every state (or at `states`), unverified."""
    alt = config.alternatives
    if alt.mode in ("admissible", "random"):
        states, drawn = draw_admissible_alternatives(model, tokenizer, trajectories, config, seed,
                                                     states=states)
        pairs, stats = build_pairs(states, drawn, alt, seed, both_orders, parsed=True)
        stats.update(drawn_from_admissible=stats["from_policy"], mode=alt.mode, kind=alt.kind)
        return pairs, stats
    states, sampled = sample_alternatives(model, tokenizer, trajectories, config, seed,
                                          states=states)
    return build_pairs(states, sampled, alt, seed, both_orders)


def make_pairs(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    trajectories: Sequence[Trajectory],
    config: Any,
    both_orders: bool,
    seed: int,
) -> tuple[list[Pair], dict[str, Any]]:
    """Alternatives at every state of `trajectories`, as labelled pairs, and their counts.

    With `alternatives.verify`, only the pairs the environment's oracle finds worse stay. With
    `alternatives.usual_share`, a seeded share of the states also get one usual pair (any kind,
    not verified; counted under `usual`), after the others and never a copy of one.
    """
    alt = config.alternatives
    pairs, stats = _drawn_pairs(model, tokenizer, trajectories, config, both_orders, seed)
    if alt.verify:
        from actrain.data.verify import keep_verified_worse
        from actrain.envs import from_config

        with from_config(config.env) as env:
            pairs, checked = keep_verified_worse(env, pairs, trajectories)
        stats.update(checked)
    if alt.usual_share:
        states = expert_states(trajectories, config.data.history_len)
        chosen = sorted(random.Random(seed + 1).sample(range(len(states)),
                                                       round(alt.usual_share * len(states))))
        usual = dataclasses.replace(config, alternatives=dataclasses.replace(
            alt, kind="any", verify=False, usual_share=0.0, per_state=1))
        more, stats["usual"] = _drawn_pairs(model, tokenizer, trajectories, usual, both_orders,
                                            seed + 2, states=[states[i] for i in chosen])
        have = {p.key for p in pairs}
        pairs = pairs + [p for p in more if p.key not in have]
    stats["kinds"] = kind_shares(pairs)
    return pairs, stats


def kind_shares(pairs: Sequence[Pair]) -> dict[str, Any]:
    """How many (state, alternative) pairs are of each kind: the alternative the same kind of
    action as the expert's (its first word) or another, and drawn from the policy or at random;
    with the share of the same kind, which surface rules cannot judge."""
    seen = {p.key: p for p in pairs}
    same = sum(first_word(p.alternative) == first_word(p.expert_action) for p in seen.values())
    random_ = sum(p.alternative_source == "random" for p in seen.values())
    return {"pairs": len(seen), "same_kind": same, "other_kind": len(seen) - same,
            "random": random_, "same_kind_share": round(same / len(seen), 4) if seen else 0.0}


def first_pairs_per_state(pairs: Sequence[Pair], limit: int) -> list[Pair]:
    """The first `limit` pairs of every state (`act.pairs_per_state`; 0 keeps all), in order:
    the pairs step may draw several alternatives a state for Early Experience's reflections
    while ACT trains on one pair a state, as the paper does."""
    pairs = Pair.coerce_all(pairs)
    if limit <= 0:
        return pairs
    seen: dict[tuple[Any, Any], int] = {}
    kept = []
    for pair in pairs:
        state = pair.state_key
        seen[state] = seen.get(state, 0) + 1
        if seen[state] <= limit:
            kept.append(pair)
    return kept
