"""Sample alternatives with the initial policy, batched across all states, and build pairs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from actrain.data.alternatives import build_pairs, expert_states
from actrain.generation import generate
from actrain.prompts import actor_prompt, render_state


def sample_alternatives(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    trajectories: Sequence[dict[str, Any]],
    config: Any,  # RunConfig; typed loosely to keep this module free of the config import cycle
    seed: int,
) -> tuple[list[Any], list[list[str]]]:
    """K completions of the actor prompt at every expert state (one batched pass)."""
    alt = config.alternatives
    states = expert_states(trajectories, config.data.history_len)
    prompts = [
        actor_prompt(tokenizer, render_state(s.state, config.data.show_admissible), alt.reasoning)
        for s in states
    ]
    sampled = generate(
        model,
        tokenizer,
        prompts,
        num_samples=alt.samples_per_state,
        max_new_tokens=alt.max_new_tokens,
        temperature=alt.temperature,
        top_p=alt.top_p,
        batch_size=config.eval.batch_size,
        stop=["</action>"],
        autocast=config.dtype,
        seed=seed,
        desc="sampling alternatives",
    )
    return states, sampled


def make_pairs(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    trajectories: Sequence[dict[str, Any]],
    config: Any,
    both_orders: bool,
    seed: int,
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    states, sampled = sample_alternatives(model, tokenizer, trajectories, config, seed)
    return build_pairs(states, sampled, config.alternatives, seed, both_orders)
