"""The ACT stage: train the judgment task on critic pairs.

`act.objective` picks how: `grpo` (the method: TRL's `GRPOTrainer` rewarded by whether the choice
is the expert's, in `act_grpo.py`), or the paper's ablations on the very same pairs, `sft`
(supervised on the correct choice) and `dpo` (the expert's choice preferred), in
`act_supervised.py`.

GRPO groups are pair groups by default (`act.advantage_group: pair`, see `choice_grpo.py`): each
group shows one pair in both orders and shares one baseline, so a position preference is not an
absorbing state. Logged besides TRL's own metrics (`reward`, `frac_reward_zero_std`, ...):
`rewards/accuracy/mean`, `rewards/accuracy_expert_first/mean`,
`rewards/accuracy_expert_second/mean`, `rewards/format_ok/mean`, `rewards/picks_first/mean`
(weight-0 reward functions), `choice/p_first`, `choice/entropy`, `choice/answer_mass` (one-token
choices), and, every `eval_every` steps, the held-out critic metrics in `critic_curve.jsonl`
(with the hard set's under `hard`, where the run has one).

With `act.zero_variance: resample`, the pairs drawn to replace flat groups are training data too:
`length.json` counts them as `resampled_pairs` (over all processes, since the stage's last start),
so the pairs ACT saw are `steps x rows_per_step + resampled_pairs`, not the matched length alone.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from transformers import PreTrainedModel, PreTrainedTokenizerBase, TrainerCallback

from actrain.config.schema import CriticConfig, RunConfig
from actrain.data.kway import kway_items
from actrain.envs import instructions_of
from actrain.errors import ActrainError
from actrain.eval.critic import evaluate_critic, hard_set_evaluation
from actrain.prompts import critic_stop, critic_tag
from actrain.records import Pair
from actrain.runtime import distributed
from actrain.runtime.io import read_jsonl, write_jsonl
from actrain.stages.act_grpo import (  # noqa: F401 - re-exported: ACT's GRPO parts
    ResampleCounter,
    act_dataset,
    expert_first,
    grpo_config,
    grpo_rewards,
    grpo_trainer,
    pair_group_dataset,
)
from actrain.stages.common import (
    latest_trainer_checkpoint,
    train_and_save,
)
from actrain.stages.inputs import ACTInputs, TrainerSettings, stage_config
from actrain.stages.registry import PlanWork, Stage, StageData


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


def weights_sharded(accelerator: Any) -> bool:
    """Whether the training model's weights are split across the processes (ZeRO-3, FSDP):
    then each of its forwards is a collective that every process must join."""
    from accelerate.utils import DistributedType

    state = accelerator.state
    if state.distributed_type == DistributedType.DEEPSPEED:
        return state.deepspeed_plugin.zero_stage == 3
    return state.distributed_type == DistributedType.FSDP


class CriticCurveCallback(TrainerCallback):
    """Evaluate the critic on held-out pairs every `every` steps and append to a JSONL file;
    on the hard set too where `hard` pairs are given (each row's `hard`).

    With its trainer bound (`bind`), it generates the way TRL does on the training model:
    ZeRO-3 weights gathered once per evaluation rather than layer by layer for every token,
    and on split weights every process decodes in step, with as many prompts each.
    """

    def __init__(self, every: int, tokenizer: PreTrainedTokenizerBase,
                 pairs: Sequence[dict[str, Any]], inputs: ACTInputs, path: Path,
                 hard: Sequence[dict[str, Any]] = ()) -> None:
        self.every, self.tokenizer, self.pairs, self.inputs, self.path = (
            every, tokenizer, pairs, inputs, path,
        )
        self.hard = hard
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
                def judge(pairs: Sequence[dict[str, Any]], evaluation: Any) -> dict[str, Any]:
                    return evaluate_critic(
                        generator, self.tokenizer, pairs, inputs.critic, evaluation,
                        inputs.trainer.dtype, inputs.trainer.seed, synced=synced,
                        instructions=inputs.instructions,
                    )[0]

                metrics = judge(self.pairs, inputs.eval)
                if self.hard:
                    metrics["hard"] = judge(self.hard, hard_set_evaluation(inputs.eval))
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
    hard_pairs: Sequence[dict[str, Any]] = (),
) -> Path:
    """Train the critic with `act.objective`; returns the final checkpoint (`out_dir/checkpoint`).
    `eval_pairs` (and `hard_pairs`, the hard set) make the curve every `act.eval_every` steps.

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
        curve = CriticCurveCallback(act.eval_every, tokenizer, eval_pairs, inputs, curve_path,
                                    Pair.coerce_all(hard_pairs))
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
    return run_act(model, tokenizer, train, data.eval_pairs(), inputs, out, data.hard_pairs())


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
