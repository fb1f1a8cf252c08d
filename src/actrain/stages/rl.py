"""The RL stage: GRPO (TRL's `GRPOTrainer`) on next-action generation from expert states.

The prompt is the agent prompt at an expert state; the reward is 1.0 for the expert's action,
0.1 for another admissible action and -0.5 when the action tag is missing (values in `rl:`).
Logged with weight 0: `rewards/expert_match/mean`, `rewards/admissible/mean`,
`rewards/action_format_ok/mean`.

TRL tokenizes a string prompt as plain text, special tokens added (`tokenizer(text=prompts)` in
`GRPOTrainer._tokenize_prompts`), while the prompt here is already a rendered chat template that
rollouts, pair groups and evaluation tokenize with `add_special_tokens=False`. For a tokenizer
that adds a BOS (Llama 3) the template's own BOS would be doubled in RL training only, so the
dataset holds each prompt with that leading BOS text removed: TRL's tokenization then gives
exactly the ids the agent is prompted with (`trl_prompts`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from datasets import Dataset
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from actrain.config.schema import RunConfig
from actrain.data.trajectories import actor_examples
from actrain.errors import ActrainError
from actrain.prompts import ActorView, trl_prompts
from actrain.rewards import make_action_metrics, make_action_reward
from actrain.stages.common import grpo_args, lora_config, train_and_save
from actrain.stages.inputs import RLInputs, TrainerSettings, actor_view
from actrain.stages.registry import PlanWork, Stage, StageData


def rl_dataset(
    tokenizer: PreTrainedTokenizerBase, trajectories: Sequence[dict[str, Any]], view: ActorView
) -> Dataset:
    rows = actor_examples(tokenizer, list(trajectories), view)
    if not rows:
        raise ActrainError("the RL stage has no expert states to train on")
    return Dataset.from_dict({
        "prompt": trl_prompts(tokenizer, [r.prompt for r in rows]),
        "expert_action": [r.expert_action for r in rows],
        "admissible_actions": [r.admissible_actions for r in rows],
    })


def run_rl(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    trajectories: Sequence[dict[str, Any]],
    inputs: RLInputs,
    out_dir: Path,
) -> Path:
    """GRPO on the next action; returns the final checkpoint (`out_dir/checkpoint`)."""
    from trl import GRPOTrainer

    rl, reasoning, peft = inputs.rl, inputs.view.reasoning, inputs.trainer.peft
    out_dir.mkdir(parents=True, exist_ok=True)
    prefilled = not reasoning
    if rl.reward:  # the user's own, by import path
        from actrain.config.plugins import load_reward

        reward = load_reward(rl.reward, "rl.reward")
    else:
        reward = make_action_reward(prefilled, rl.expert_reward, rl.admissible_reward,
                                    rl.other_reward, rl.malformed_reward)
    metrics = make_action_metrics(prefilled)
    # A completion cut off mid-thought has no action to reward: keep it out of the loss.
    truncation = {"mask_truncated_completions": True} if reasoning else {}
    dataset = rl_dataset(tokenizer, trajectories, inputs.view)
    args = grpo_args(rl, "rl", out_dir / "trainer", inputs.trainer, rl.max_new_tokens,
                     len(dataset), **truncation)
    args.reward_weights = [1.0] + [0.0] * len(metrics)
    model.generation_config.top_k = None
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=[reward, *metrics],
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=lora_config(peft),
    )
    return train_and_save(trainer, tokenizer, out_dir, peft.merge)


def _inputs(config: RunConfig, name: str, trainer: TrainerSettings) -> RLInputs:
    return RLInputs(config.rl, actor_view(config), trainer)


def _trl_args(inputs: RLInputs, out: Path) -> Any:
    return grpo_args(inputs.rl, "rl", out, inputs.trainer, inputs.rl.max_new_tokens)


def _train(model: Any, tokenizer: Any, inputs: RLInputs, data: StageData, out: Path) -> Path:
    return run_rl(model, tokenizer, data.trajectories(), inputs, out)


def _plan(config: RunConfig, name: str, states: float) -> PlanWork:
    return PlanWork(grpo=True, settings=config.rl, rows=states,
                    completion=config.rl.max_new_tokens)


STAGE = Stage("rl", "rl", _inputs, "collect", _trl_args, _train, _plan)
