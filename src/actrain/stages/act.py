"""The ACT stage: GRPO (TRL's `GRPOTrainer`) on the judgment task.

Each training prompt is a state, the question "which action is better", and the two actions in a
shown order; with `both_orders` every pair appears in both orders, so a constant-position answer
earns exactly the chance rate and carries no advantage. Logged besides TRL's own metrics
(`reward`, `frac_reward_zero_std`, ...): `rewards/accuracy/mean`,
`rewards/accuracy_expert_first/mean`, `rewards/accuracy_expert_second/mean`,
`rewards/format_ok/mean` (weight-0 reward functions), and, every `eval_every` steps, the held-out
critic metrics in `critic_curve.jsonl`.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from datasets import Dataset
from transformers import PreTrainedModel, PreTrainedTokenizerBase, TrainerCallback

from actrain.config import RunConfig
from actrain.errors import ActrainError
from actrain.evaluate import critic_prompts, evaluate_critic
from actrain.rewards import make_accuracy_metrics, make_choice_reward
from actrain.stages.common import grpo_args, latest_trainer_checkpoint, train_and_save


def training_rows(
    pairs: Sequence[dict[str, Any]], both_orders: bool, seed: int | None = None
) -> list[dict[str, Any]]:
    """Pairs as training rows; with `both_orders` each pair is added in its other order too.

    With a `seed`, pairs are shuffled first and each pair's two orders stay adjacent, so that an
    unshuffled sampler puts them in the same step.
    """
    pairs = list(pairs)
    if seed is not None:
        random.Random(seed).shuffle(pairs)
    rows = []
    for pair in pairs:
        rows.append(pair)
        if both_orders:
            flipped = dict(pair)
            flipped["actions"] = list(reversed(pair["actions"]))
            flipped["expert_first"] = not pair["expert_first"]
            flipped["label"] = 1 - pair["label"]
            rows.append(flipped)
    return rows


def act_dataset(
    tokenizer: PreTrainedTokenizerBase, pairs: Sequence[dict[str, Any]], config: RunConfig
) -> Dataset:
    seed = config.seed if config.act.order_paired else None
    rows = training_rows(pairs, config.act.both_orders, seed=seed)
    prompts = critic_prompts(tokenizer, rows, config.critic)
    return Dataset.from_dict(
        {
            "prompt": prompts,
            "actions": [r["actions"] for r in rows],
            "label": [r["label"] for r in rows],
            "expert_first": [r["expert_first"] for r in rows],
        }
    )


def grpo_config(config: RunConfig, output_dir: Path):  # noqa: ANN201 - trl.GRPOConfig
    act = config.act
    extra: dict[str, Any] = {}
    if act.order_paired:
        if act.prompts_per_step % 2:
            raise ActrainError("act.paired_batches needs an even act.prompts_per_step")
        extra["shuffle_dataset"] = False  # rows are pre-shuffled by pair, orders adjacent
    return grpo_args(act, "act", output_dir, config.seed, config.dtype,
                     config.critic.max_new_tokens, **extra)


class CriticCurveCallback(TrainerCallback):
    """Evaluate the critic on held-out pairs every `every` steps and append to a JSONL file."""

    def __init__(self, every: int, tokenizer: PreTrainedTokenizerBase,
                 pairs: Sequence[dict[str, Any]], config: RunConfig, path: Path) -> None:
        self.every, self.tokenizer, self.pairs, self.config, self.path = (
            every, tokenizer, pairs, config, path,
        )

    def on_step_end(self, args, state, control, model=None, **kwargs):  # noqa: ANN001, ANN201
        if self.every and state.global_step % self.every == 0 and model is not None:
            was_training = model.training
            metrics, _ = evaluate_critic(
                model, self.tokenizer, self.pairs, self.config.critic, self.config.eval,
                self.config.dtype, self.config.seed,
            )
            model.train(was_training)
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps({"step": state.global_step, **metrics}) + "\n")
        return control


def run_act(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    train_pairs: Sequence[dict[str, Any]],
    eval_pairs: Sequence[dict[str, Any]],
    config: RunConfig,
    out_dir: Path,
) -> Path:
    """Train with GRPO on the pairs; returns the final checkpoint folder (`out_dir/checkpoint`).

    TRL checkpoints in `out_dir/trainer` (when `act.save_steps` > 0) let an interrupted run resume.
    """
    from trl import GRPOTrainer

    out_dir.mkdir(parents=True, exist_ok=True)
    prefilled = not config.critic.reasoning
    fmt = config.critic.answer_format
    reward = make_choice_reward(
        fmt, prefilled, config.act.correct_reward, config.act.wrong_reward,
        config.act.malformed_reward,
    )
    metrics = make_accuracy_metrics(fmt, prefilled)
    args = grpo_config(config, out_dir / "trainer")
    args.reward_weights = [1.0] + [0.0] * len(metrics)
    curve_path = out_dir / "critic_curve.jsonl"
    callbacks = []
    if config.act.eval_every:
        callbacks.append(
            CriticCurveCallback(config.act.eval_every, tokenizer, eval_pairs, config, curve_path)
        )
    model.generation_config.top_k = None
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=[reward, *metrics],
        args=args,
        train_dataset=act_dataset(tokenizer, train_pairs, config),
        processing_class=tokenizer,
        callbacks=callbacks,
    )
    if latest_trainer_checkpoint(out_dir / "trainer") is None:
        curve_path.unlink(missing_ok=True)
    return train_and_save(trainer, tokenizer, out_dir)
