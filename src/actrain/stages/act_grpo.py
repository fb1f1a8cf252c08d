"""ACT by GRPO: TRL's `GRPOTrainer` rewarded by whether the choice is the expert's, on pair
groups (`choice_grpo.py`: one pair in both orders shares a baseline) or per shown prompt.

Its datasets, TRL config, rewards and trainer; `act.py` runs it (and the supervised ablations of
`act_supervised.py`) as the ACT stage.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from datasets import Dataset
from transformers import PreTrainedModel, PreTrainedTokenizerBase, TrainerCallback

from actrain.config.schema import CriticConfig
from actrain.data.kway import rotation, training_rows
from actrain.errors import ActrainError
from actrain.prompts import CriticView, critic_prompts, trl_prompts
from actrain.records import Pair
from actrain.rewards import (
    choices,
    make_accuracy_metrics,
    make_choice_reward,
    make_consistency_reward,
)
from actrain.stages.common import grpo_args, lora_config
from actrain.stages.inputs import ACTInputs


def act_dataset(
    tokenizer: PreTrainedTokenizerBase, pairs: Sequence[dict[str, Any]], inputs: ACTInputs
) -> Dataset:
    act = inputs.act
    seed = inputs.trainer.seed if act.order_paired else None
    rows = training_rows(pairs, act.both_orders, seed=seed)
    prompts = critic_prompts(tokenizer, rows, inputs.critic_view)
    return Dataset.from_dict(
        {
            "prompt": trl_prompts(tokenizer, prompts, "ACT"),
            "actions": [r.actions for r in rows],
            "label": [r.label for r in rows],
            "expert_first": [r.expert_first for r in rows],
        }
    )


def expert_first(pair: Pair) -> list[str]:
    """A pair's (or K-way item's) actions with the expert's shown first."""
    return pair.candidates


def pair_group_dataset(
    tokenizer: PreTrainedTokenizerBase, pairs: Sequence[dict[str, Any]],
    critic: CriticConfig | CriticView,
) -> tuple[Dataset, dict[str, dict[str, Any]]]:
    """One row per pair (its expert-first prompt) and the pair's renderings, by that prompt:
    its two orders, or a K-way item's K rotations (the expert's action at each position).

    The rollout of `choice_grpo.PairGroupRollout` looks a row's prompt up to show them all.
    """
    pairs = Pair.coerce_all(pairs)
    actions = [expert_first(pair) for pair in pairs]
    k = len(actions[0]) if actions else 2
    shown = [
        critic_prompts(tokenizer, [p.shown(rotation(a, r), r)
                                   for p, a in zip(pairs, actions, strict=True)], critic)
        for r in range(k)
    ]
    by_prompt: dict[str, dict[str, Any]] = {}
    for i, candidates in enumerate(actions):
        by_prompt[shown[0][i]] = {"prompts": [s[i] for s in shown], "actions": candidates}
    keys = shown[0]  # a repeated pair stays a row of its own, like any other
    dataset = Dataset.from_dict({
        "prompt": keys,
        "actions": [by_prompt[k]["actions"] for k in keys],
        "label": [0] * len(keys),
        "expert_first": [True] * len(keys),
    })
    return dataset, by_prompt


def grpo_config(  # noqa: ANN201 - trl.GRPOConfig
    inputs: ACTInputs, output_dir: Path, data_rows: int | None = None
):
    """`data_rows`: the training dataset's rows (pairs with pair groups, shown prompts with
    prompt groups), from which `act.epochs` sets the steps when `act.max_steps` is 0."""
    act, critic = inputs.act, inputs.critic
    # Advantages not divided by the group's std (Dr. GRPO): in a nearly flat group the std is tiny
    # and one rare sample would get a huge advantage; that flipped a trained critic to one
    # position in docs/results/twc-critic.md. `act.grpo: {scale_rewards: group}` restores TRL's.
    extra: dict[str, Any] = {"scale_rewards": "none"}
    if critic.reasoning:
        # A completion cut off mid-thought has no answer to reward: keep it out of the loss.
        extra["mask_truncated_completions"] = True
    if act.order_paired:
        if act.prompts_per_step % 2:
            raise ActrainError("act.paired_batches needs an even act.prompts_per_step")
        extra["shuffle_dataset"] = False  # rows are pre-shuffled by pair, orders adjacent
    return grpo_args(act, "act", output_dir, inputs.trainer, critic.max_new_tokens, data_rows,
                     **extra)


class ResampleCounter(TrainerCallback):
    """Sums the pairs a `PairGroupRollout` drew to replace flat groups (`resampled_pairs`) over
    the processes, for `length.json`.

    `record` rides on the trainer as its `sequence_lengths` (`stage_length` merges that dict into
    `length.json` after training); at the end of training every process adds its own draws in
    one collective, which all of them join.
    """

    def __init__(self, rollout: Any) -> None:
        self.rollout, self.trainer = rollout, None
        self.record: dict[str, int] = {"resampled_pairs": 0}

    def bind(self, trainer: Any) -> None:
        """The trainer whose processes sum their draws; it carries `record` into `length.json`."""
        self.trainer = trainer
        trainer.sequence_lengths = self.record

    def on_train_end(self, args, state, control, **kwargs):  # noqa: ANN001, ANN201
        total = self.rollout.resampled_pairs
        if self.trainer is not None and self.trainer.accelerator.num_processes > 1:
            import torch

            accelerator = self.trainer.accelerator
            count = torch.tensor([total], dtype=torch.long, device=accelerator.device)
            total = int(accelerator.reduce(count, reduction="sum").item())
        self.record["resampled_pairs"] = total
        return control


def grpo_rewards(inputs: ACTInputs) -> tuple[list[Any], list[float]]:
    """The GRPO stage's trained rewards and their weights: the choice reward (or the user's own,
    `act.reward`), then J1's both-orders bonus with `act.consistency_reward` (pair groups only).
    Kept out of `grpo_trainer`, which sets up how they are sampled: this is what is optimised."""
    act, critic = inputs.act, inputs.critic
    prefilled = not critic.reasoning
    fmt = critic.answer_format
    if act.reward:  # the user's own, by import path
        from actrain.config.plugins import load_reward

        reward_funcs = [load_reward(act.reward, "act.reward")]
    else:
        reward_funcs = [make_choice_reward(fmt, prefilled, act.correct_reward, act.wrong_reward,
                                           act.malformed_reward)]
    weights = [1.0]
    if act.consistency_reward:
        if act.advantage_group != "pair":
            raise ActrainError("act.consistency_reward needs act.advantage_group: pair")
        reward_funcs.append(make_consistency_reward(fmt, prefilled))
        weights.append(act.consistency_reward)
    return reward_funcs, weights


def grpo_trainer(  # noqa: ANN201 - a trl.GRPOTrainer
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    train_pairs: Sequence[dict[str, Any]],
    inputs: ACTInputs,
    out_dir: Path,
    callbacks: list[TrainerCallback],
):
    from actrain.stages.choice_grpo import ChoiceGRPOTrainer, PairGroupRollout, answer_token_ids

    act, critic = inputs.act, inputs.critic
    prefilled = not critic.reasoning
    fmt = critic.answer_format
    reward_funcs, weights = grpo_rewards(inputs)
    pair_groups = act.advantage_group == "pair"
    resample = act.zero_variance == "resample" and pair_groups  # prompt groups: kept as they are
    metrics = make_accuracy_metrics(fmt, prefilled)
    # The one-token sampler needs the whole answer in one token: a prefilled index answer of
    # `critic.max_new_tokens: 1`. Longer answers (the action's text, a reasoning) share their
    # prompt's pass in one process (`ChoiceGRPOTrainer.prefix_pass`); TRL's own otherwise.
    one_token = prefilled and fmt == "index" and critic.max_new_tokens == 1
    rollout = None
    if pair_groups:
        dataset, by_prompt = pair_group_dataset(tokenizer, train_pairs, inputs.critic_view)

        def correct(texts: list[str], actions: list[list[str]], labels: list[int]) -> list[bool]:
            picked = choices(texts, actions, fmt, prefilled)
            return [p == y for p, y in zip(picked, labels, strict=True)]

        rollout = PairGroupRollout(
            by_prompt, tokenizer, act.num_generations, one_token,
            answer_token_ids(tokenizer, critic.candidates) if fmt == "index" else None, correct,
            act.resample_tries if resample else 0, inputs.trainer.seed,
        )
        if resample:
            callbacks.append(ResampleCounter(rollout))
    else:
        dataset = act_dataset(tokenizer, train_pairs, inputs)
    args = grpo_config(inputs, out_dir / "trainer", len(dataset))
    args.reward_weights = weights + [0.0] * len(metrics)
    model.generation_config.top_k = None
    return ChoiceGRPOTrainer(
        model=model,
        reward_funcs=[*reward_funcs, *metrics],
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        callbacks=callbacks,
        rollout_func=rollout,
        shared_prompt_pass=act.shared_prompt_pass,
        peft_config=lora_config(inputs.trainer.peft),
        filter_zero_variance=act.zero_variance == "filter",
    )
