"""What an agent is when it is evaluated: its rollout settings, the view of a state it was
trained on, its dtype and seed (`AgentSettings`), and the protocol every result file pins."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from actrain.config.schema import RolloutConfig
from actrain.envs import instructions_of
from actrain.prompts import ActorView


@dataclass
class AgentSettings:
    """What every episode of a rollout depends on: the `rollout` section itself (step limits,
    decoding, batching), how a state is shown (the `data` section's view, the same as in the
    agent's training data), the compute dtype and the seed for sampled decoding."""

    rollout: RolloutConfig = field(default_factory=RolloutConfig)
    view: ActorView = field(default_factory=ActorView)
    dtype: str = "float32"
    seed: int = 0
    # Encode the tokens a batch's prompts start with (system prompt, chat header, often the task)
    # once and copy their KV cache to every row (`generate`'s `common_prefix`); False is the
    # earlier path, kept for `benchmarks/rollout_throughput.py` to measure against.
    prefix_cache: bool = True

    def step_limit(self, task: str) -> int:
        """`rollout.max_steps_by_task` keyed by the task id before its last ":" (ScienceWorld's
        task name in "boil:21"), else `rollout.max_steps`."""
        r = self.rollout
        return r.max_steps_by_task.get(task.rpartition(":")[0], r.max_steps)


def agent_settings(config: Any, seed: int, thinking: bool | None = None) -> AgentSettings:
    """A run config's agent: its rollout section and the state view it was trained on (with
    its environment's instructions); with `thinking` True, prompted to reason first and given
    `rollout.thinking_max_new_tokens`; with False, prompted to write its action at once (the
    action tag prefilled)."""
    view, rollout = ActorView.of(config.data, instructions_of(config.env)), config.rollout
    if thinking is not None:
        view = dataclasses.replace(view, reasoning=thinking)
    if thinking:
        rollout = dataclasses.replace(rollout, max_new_tokens=rollout.thinking_max_new_tokens)
    return AgentSettings(rollout=rollout, view=view, dtype=config.dtype, seed=seed)


def protocol(config: Any, thinking: bool | None = None) -> dict[str, Any]:
    """The evaluation protocol, pinned into every result file and report."""
    r = config.rollout
    return {
        "env": config.env.id,
        "env_kwargs": config.env.kwargs,
        "splits": list(r.splits),
        "episodes_per_split": r.episodes,
        "max_steps": r.max_steps,
        **({"max_steps_by_task": dict(r.max_steps_by_task)} if r.max_steps_by_task else {}),
        "success": "info['won'] at the end of the episode",
        "decoding": decoding_text(r.temperature, r.top_p, r.top_k),
        "history_len": config.data.history_len,
        "admissible_actions_shown": config.data.show_admissible,
        "actor_reasoning": config.data.actor_reasoning if thinking is None else thinking,
        "max_new_tokens": r.thinking_max_new_tokens if thinking else r.max_new_tokens,
        "next_action_states": (f"at least {r.next_action_states} held-out expert states a split"
                               if r.next_action_states > 0 else "the id_test expert states"),
    }


def decoding_text(temperature: float, top_p: float = 1.0, top_k: int = 0) -> str:
    """How a section decodes, in words for protocols and reports ("greedy", or the sampling
    settings that are on)."""
    if temperature == 0:
        return "greedy"
    parts = [f"temperature {temperature}"]
    parts += [f"top_p {top_p}"] if top_p < 1 else []
    parts += [f"top_k {top_k}"] if top_k > 0 else []
    return "sampling, " + ", ".join(parts)
