"""The ACT stage: train the judgment task on critic pairs.

`act.objective` picks how: `grpo` (the method: TRL's `GRPOTrainer` rewarded by whether the choice
is the expert's), or the paper's ablations on the very same pairs, `sft` (supervised on the
correct choice) and `dpo` (the expert's choice preferred), in `act_supervised.py`.

GRPO groups are pair groups by default (`act.advantage_group: pair`, see `choice_grpo.py`): each
group shows one pair in both orders and shares one baseline, so a position preference is not an
absorbing state. Logged besides TRL's own metrics (`reward`, `frac_reward_zero_std`, ...):
`rewards/accuracy/mean`, `rewards/accuracy_expert_first/mean`,
`rewards/accuracy_expert_second/mean`, `rewards/format_ok/mean`, `rewards/picks_first/mean`
(weight-0 reward functions), `choice/p_first`, `choice/entropy`, `choice/answer_mass` (one-token
choices), and, every `eval_every` steps, the held-out critic metrics in `critic_curve.jsonl`.

With `act.zero_variance: resample`, the pairs drawn to replace flat groups are training data too:
`length.json` counts them as `resampled_pairs` (over all processes, since the stage's last start),
so the pairs ACT saw are `steps x rows_per_step + resampled_pairs`, not the matched length alone.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from datasets import Dataset
from transformers import PreTrainedModel, PreTrainedTokenizerBase, TrainerCallback

from actrain.config.schema import CriticConfig, RunConfig
from actrain.data.kway import kway_items, rotation, training_rows
from actrain.envs import instructions_of
from actrain.errors import ActrainError
from actrain.eval.critic import evaluate_critic
from actrain.prompts import CriticView, critic_prompts, critic_stop, critic_tag, trl_prompts
from actrain.records import Pair
from actrain.rewards import (
    choices,
    make_accuracy_metrics,
    make_choice_reward,
    make_consistency_reward,
)
from actrain.runtime import distributed
from actrain.runtime.io import read_jsonl, write_jsonl
from actrain.stages.common import (
    grpo_args,
    latest_trainer_checkpoint,
    lora_config,
    train_and_save,
)
from actrain.stages.inputs import ACTInputs, TrainerSettings, stage_config
from actrain.stages.registry import PlanWork, Stage, StageData


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


def check_answer_room(
    tokenizer: PreTrainedTokenizerBase, pairs: Sequence[dict[str, Any]], critic: CriticConfig
) -> None:
    """With `critic.answer_format: action` a judgment writes an action's text and its closing
    tag: refuse a `critic.max_new_tokens` too small for the longest of `pairs`' actions, which
    could never be named in full (a cut answer is malformed, never right)."""
    if critic.answer_format != "action":
        return
    opening = f"<{critic_tag(critic.answer_format)}>" if critic.reasoning else ""
    actions = sorted({a for p in Pair.coerce_all(pairs) for a in p.actions})
    if not actions:
        return
    answers = [f"{opening}{a}{critic_stop(critic.answer_format)}" for a in actions]
    lengths = [len(ids) for ids in tokenizer(answers, add_special_tokens=False)["input_ids"]]
    longest = max(range(len(answers)), key=lengths.__getitem__)
    if lengths[longest] > critic.max_new_tokens:
        room = " plus room to think" if critic.reasoning else ""
        raise ActrainError(
            f"critic.answer_format action: the answer {answers[longest][:80]!r} takes "
            f"{lengths[longest]} tokens, more than critic.max_new_tokens "
            f"({critic.max_new_tokens}); set critic.max_new_tokens to at least "
            f"{lengths[longest]}{room}"
        )


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


def weights_sharded(accelerator: Any) -> bool:
    """Whether the training model's weights are split across the processes (ZeRO-3, FSDP):
    then each of its forwards is a collective that every process must join."""
    from accelerate.utils import DistributedType

    state = accelerator.state
    if state.distributed_type == DistributedType.DEEPSPEED:
        return state.deepspeed_plugin.zero_stage == 3
    return state.distributed_type == DistributedType.FSDP


class CriticCurveCallback(TrainerCallback):
    """Evaluate the critic on held-out pairs every `every` steps and append to a JSONL file.

    With its trainer bound (`bind`), it generates the way TRL does on the training model:
    ZeRO-3 weights gathered once per evaluation rather than layer by layer for every token,
    and on split weights every process decodes in step, with as many prompts each.
    """

    def __init__(self, every: int, tokenizer: PreTrainedTokenizerBase,
                 pairs: Sequence[dict[str, Any]], inputs: ACTInputs, path: Path) -> None:
        self.every, self.tokenizer, self.pairs, self.inputs, self.path = (
            every, tokenizer, pairs, inputs, path,
        )
        self.trainer: Any = None

    def bind(self, trainer: Any) -> None:
        """The trainer whose model is evaluated: its accelerator knows how the model is split."""
        self.trainer = trainer

    @contextmanager
    def _generator(self, model: PreTrainedModel) -> Iterator[tuple[PreTrainedModel, bool]]:
        """The model to generate with, and whether the processes must generate in step."""
        trainer = self.trainer
        if trainer is None:
            yield model, False
            return
        from trl.models import unwrap_model_for_generation

        args = trainer.args
        with unwrap_model_for_generation(
            trainer.model_wrapped, trainer.accelerator,
            gather_deepspeed3_params=getattr(args, "ds3_gather_for_generation", True),
            gradient_checkpointing_kwargs=args.gradient_checkpointing_kwargs,
        ) as unwrapped:
            yield unwrapped, distributed.world() > 1 and weights_sharded(trainer.accelerator)

    def on_step_end(self, args, state, control, model=None, **kwargs):  # noqa: ANN001, ANN201
        if self.every and state.global_step % self.every == 0 and model is not None:
            was_training = model.training
            inputs = self.inputs
            with self._generator(model) as (generator, synced):
                metrics, _ = evaluate_critic(
                    generator, self.tokenizer, self.pairs, inputs.critic, inputs.eval,
                    inputs.trainer.dtype, inputs.trainer.seed, synced=synced,
                    instructions=inputs.instructions,
                )
            model.train(was_training)
            # A resumed run evaluates its steps again: the new row replaces the old one.
            rows = read_jsonl(self.path) if self.path.exists() else []
            rows = [r for r in rows if r.get("step") != state.global_step]
            write_jsonl(self.path, [*rows, {"step": state.global_step, **metrics}])
        return control


def run_act(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    train_pairs: Sequence[dict[str, Any]],
    eval_pairs: Sequence[dict[str, Any]],
    inputs: ACTInputs,
    out_dir: Path,
) -> Path:
    """Train the critic with `act.objective`; returns the final checkpoint (`out_dir/checkpoint`).

    TRL checkpoints in `out_dir/trainer` (when `act.save_steps` > 0) let an interrupted run resume.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    train_pairs, eval_pairs = Pair.coerce_all(train_pairs), Pair.coerce_all(eval_pairs)
    act, k = inputs.act, inputs.critic.candidates
    if k > 2:  # K-way items from the pairs of each state, each in one random rotation
        if act.objective == "dpo" or act.consistency_reward:
            raise ActrainError("K-way choice (critic.candidates > 2) trains with act.objective "
                               "grpo or sft, without act.consistency_reward")
        train_pairs, _ = kway_items(train_pairs, k, all_positions=False,
                                    seed=inputs.trainer.seed)
    if not train_pairs:
        raise ActrainError("the ACT stage has no training pairs (see pairs/stats.json; K-way "
                           "choice needs alternatives.per_state >= critic.candidates - 1)")
    check_answer_room(tokenizer, [*train_pairs, *eval_pairs], inputs.critic)
    curve_path = out_dir / "critic_curve.jsonl"
    callbacks: list[TrainerCallback] = []
    curve = None
    if act.eval_every:
        curve = CriticCurveCallback(act.eval_every, tokenizer, eval_pairs, inputs, curve_path)
        callbacks.append(curve)
    if act.objective == "grpo":
        trainer = grpo_trainer(model, tokenizer, train_pairs, inputs, out_dir, callbacks)
    else:
        from actrain.stages.act_supervised import supervised_trainer

        trainer = supervised_trainer(model, tokenizer, train_pairs, inputs, out_dir, callbacks)
    if curve is not None:
        curve.bind(trainer)
    for callback in callbacks:
        if isinstance(callback, ResampleCounter):
            callback.bind(trainer)
    if latest_trainer_checkpoint(out_dir / "trainer") is None:
        curve_path.unlink(missing_ok=True)
    return train_and_save(trainer, tokenizer, out_dir, inputs.trainer.peft.merge)


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
    # The one-token sampler and the shared prompt pass need the whole answer in one token: a
    # prefilled index answer of `critic.max_new_tokens: 1`. Off otherwise (action answers are
    # several tokens): TRL then samples and scores every completion itself.
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
        shared_prompt_pass=act.shared_prompt_pass and one_token,
        peft_config=lora_config(inputs.trainer.peft),
        filter_zero_variance=act.zero_variance == "filter",
    )


def _inputs(config: RunConfig, name: str, trainer: TrainerSettings) -> ACTInputs:
    return ACTInputs(stage_config(config, name), config.critic, config.eval, trainer,
                     instructions_of(config.env))


def _trl_args(inputs: ACTInputs, out: Path) -> Any:
    if inputs.act.objective == "grpo":
        return grpo_config(inputs, out)
    from actrain.stages.act_supervised import dpo_choice_config, sft_choice_config

    build = sft_choice_config if inputs.act.objective == "sft" else dpo_choice_config
    return build(inputs, out)


def _train(model: Any, tokenizer: Any, inputs: ACTInputs, data: StageData, out: Path) -> Path:
    """On the first `act.pairs_per_state` training pairs of each state."""
    from actrain.data.alternatives import first_pairs_per_state

    train = first_pairs_per_state(data.train_pairs(), inputs.act.pairs_per_state)
    return run_act(model, tokenizer, train, data.eval_pairs(), inputs, out)


def _plan(config: RunConfig, name: str, states: float) -> PlanWork:
    """GRPO samples a dataset row (a pair with pair groups, a shown order of one with prompt
    groups); SFT and DPO train each pair in both orders (DPO: chosen and rejected)."""
    act = stage_config(config, name)
    per_state = config.alternatives.per_state
    act_per_state = min(per_state, act.pairs_per_state or per_state)
    if act.objective != "grpo":
        return PlanWork(grpo=False, settings=act, rows=2 * states * act_per_state,
                        completion=16, pairs_per_example=2 if act.objective == "dpo" else 1,
                        critic_curve=True)
    twice = act.advantage_group == "prompt" and act.both_orders
    return PlanWork(grpo=True, settings=act, rows=states * act_per_state * (2 if twice else 1),
                    completion=config.critic.max_new_tokens, critic_curve=True,
                    pair_groups=(act.advantage_group == "pair"
                                 and act.zero_variance == "resample"
                                 and bool(act.resample_tries)))


STAGE = Stage("act", "act", _inputs, "pairs", _trl_args, _train, _plan,
              variants=("grpo", "sft", "dpo"))
