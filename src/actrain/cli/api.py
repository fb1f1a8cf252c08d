"""The Python API: what `actrain run` does, a piece at a time, from a notebook or a script.

    import actrain

    config = actrain.load_config("configs/quickstart.yaml", ["act.max_steps=10"])
    pairs = [actrain.pair("tidy up", "You see a shirt.", "take shirt", "inventory")]
    checkpoint = actrain.train_act(config, pairs, out_dir="my-act")
    print(actrain.evaluate_critic(config, checkpoint, pairs))

Each function resolves the config's device and dtype as a run would, and turns on actrain's
progress log if the program has not configured logging (docs/python-api.md).
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from actrain.config.schema import RunConfig
from actrain.records import Pair
from actrain.runtime.logs import ensure_logging


def _resolved(config: RunConfig) -> RunConfig:
    from actrain.runtime.device import resolve_device, resolve_dtype

    ensure_logging()
    device = resolve_device(config.device)
    return dataclasses.replace(config, device=device, dtype=resolve_dtype(config.dtype, device))


def pair(
    task_description: str,
    observation: str,
    expert_action: str,
    alternative: str,
    admissible: Sequence[str] = (),
    history: Sequence[tuple[str, str]] = (),
    expert_first: bool | None = None,
    task: str = "custom:0",
    step: int = 0,
) -> Pair:
    """A judgment pair as `pairs/*.jsonl` holds it (`pair.to_json()`): a state, the expert's
    action and a worse one, built as the pairs step builds its own (`Pair.make`).
    `expert_first` is the shown order (None: a coin flip, seeded by the content)."""
    if expert_action == alternative:
        raise ValueError("a pair needs two different actions")
    if expert_first is None:
        expert_first = random.Random(f"{task}:{step}:{alternative}").random() < 0.5
    return Pair.make(task=task, step=step, task_description=task_description, history=history,
                     observation=observation, context=None, admissible=admissible,
                     expert_action=expert_action, alternative=alternative,
                     alternative_source="user", expert_first=expert_first)


def train_act(
    config: RunConfig,
    train_pairs: Sequence[Pair | dict[str, Any]],
    heldout_pairs: Sequence[Pair | dict[str, Any]] = (),
    out_dir: str | Path = "act-checkpoint",
    model: str | None = None,
) -> Path:
    """ACT (the `act` section: GRPO, or its SFT / DPO ablations) on your own pairs, from
    `model` (default: `config.model`). Returns the checkpoint folder, `out_dir/checkpoint`.
    `heldout_pairs` feed the held-out curve when `act.eval_every` > 0. Pairs are `actrain.pair`
    records, or dicts as `pairs/*.jsonl` holds them."""
    from actrain.runtime.models import load_model
    from actrain.runtime.release import release
    from actrain.stages.act import run_act
    from actrain.stages.inputs import stage_inputs

    config = _resolved(config)
    peft = config.peft
    model_obj, tokenizer = load_model(model or config.model, config.dtype, config.device,
                                      config.chat_template_kwargs,
                                      peft.enabled and peft.load_in_4bit, for_training=True,
                                      lora=peft.enabled)
    try:
        return run_act(model_obj, tokenizer, Pair.coerce_all(train_pairs),
                       Pair.coerce_all(heldout_pairs),
                       stage_inputs(config, "act"), Path(out_dir))
    finally:  # a model the caller loads next (evaluate_critic) is whole again, and fits
        del model_obj
        release(after_training=True)


def evaluate_critic(config: RunConfig, model: str | Path,
                    pairs: Sequence[Pair | dict[str, Any]]) -> dict[str, Any]:
    """Held-out critic accuracy of any model or checkpoint on `pairs`, under the config's
    `critic` and `eval` sections: balanced accuracy, accuracy by shown order, format failures."""
    from actrain.envs import instructions_of
    from actrain.eval.critic import evaluate_critic as judge
    from actrain.runtime.models import load_model

    config = _resolved(config)
    model_obj, tokenizer = load_model(str(model), config.dtype, config.device,
                                      config.chat_template_kwargs)
    metrics, _ = judge(model_obj, tokenizer, Pair.coerce_all(pairs), config.critic, config.eval,
                       config.dtype, config.seed, instructions=instructions_of(config.env))
    return metrics


def evaluate_agent(config: RunConfig, model: str | Path) -> dict[str, Any]:
    """Roll any model or checkpoint out as an agent under the config's `rollout` protocol:
    success rate, score and invalid actions per split."""
    from actrain.eval.rollouts import evaluate_agent as roll_out
    from actrain.runtime.models import load_model

    config = _resolved(config)
    model_obj, tokenizer = load_model(str(model), config.dtype, config.device,
                                      config.chat_template_kwargs)
    summary, _ = roll_out(model_obj, tokenizer, config, config.seed)
    return summary
