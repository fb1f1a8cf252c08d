"""The paper's ACT-stage ablations: the same pairs, trained with supervision instead of GRPO.

- `act.objective: sft`: TRL's `SFTTrainer` on the correct choice (the prompt is the critic
  prompt, the completion the expert's position, or with `critic.answer_format: action` the
  expert's action, closed by its tag; loss on the completion only).
- `act.objective: dpo`: TRL's `DPOTrainer`, the expert's answer preferred to the other one,
  scored up to the first token where the answers differ (`act.dpo_scope: decision`, see
  `choice_dpo.py`; `answer` scores the whole answer as TRL does); with
  `act.shared_prompt_pass` (the default) each pair's two rows share one prompt pass
  (`ChoiceDPOTrainer`, `choice_dpo.py`), which computes the same loss at a fraction of the cost
  (4.79x faster a step on a 2-core CPU, `benchmarks/act_step.py --objective dpo`).

Every pair is used in both shown orders (`act.both_orders`), so neither objective can score by
naming a position. TRL's `max_length` holds the longest row (`stages.il.fitted_max_length`): a
cut row would lose its answer, the only part either objective learns from. They sit beside
GRPO in every critic table, as the supervised ceiling on the same data.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from datasets import Dataset
from transformers import PreTrainedModel, PreTrainedTokenizerBase, TrainerCallback

from actrain.config.schema import CriticConfig
from actrain.data.kway import training_rows
from actrain.errors import ActrainError
from actrain.prompts import critic_prompts, critic_stop, critic_tag
from actrain.stages.common import (
    OWN_KEYS,
    lora_config,
    passthrough,
    split_batch,
    trainer_defaults,
)
from actrain.stages.il import fitted_max_length, lengths_record, sequence_lengths
from actrain.stages.inputs import ACTInputs


def answer_text(index: int, actions: Sequence[str], critic: CriticConfig) -> str:
    """The completion that picks `actions[index]`, in the critic's answer format: its number
    ("1</answer>") or its text in the agent's tag ("take apple</action>"). Direct choice
    prefills the opening tag; with reasoning the answer writes it ("<answer>1</answer>")."""
    tag = critic_tag(critic.answer_format)
    content = str(index + 1) if critic.answer_format == "index" else actions[index]
    opening = "" if not critic.reasoning else f"<{tag}>"
    return f"{opening}{content}{critic_stop(critic.answer_format)}"


def choice_examples(
    tokenizer: PreTrainedTokenizerBase, pairs: Sequence[dict[str, Any]], inputs: ACTInputs
) -> dict[str, list[str]]:
    """Prompt, the expert's answer and the other answer, for each training row."""
    critic = inputs.critic
    rows = training_rows(pairs, inputs.act.both_orders, seed=inputs.trainer.seed)
    return {
        "prompt": critic_prompts(tokenizer, rows, inputs.critic_view),
        "chosen": [answer_text(r.label, r.actions, critic) for r in rows],
        "rejected": [answer_text(1 - r.label, r.actions, critic) for r in rows],
    }


def _defaults(inputs: ACTInputs, output_dir: Path, max_length: int | None) -> dict[str, Any]:
    act = inputs.act
    defaults = trainer_defaults(output_dir, inputs.trainer, act.max_steps,
                                act.learning_rate, act.save_steps)
    per_device, accumulation = split_batch("act", act.batch_size, act.micro_batch)
    defaults.update(
        num_train_epochs=act.epochs,
        per_device_train_batch_size=per_device,
        gradient_accumulation_steps=accumulation,
        max_length=max_length,
        lr_scheduler_type="constant_with_warmup",
        warmup_steps=0.05,  # a fraction of the steps
    )
    return defaults


def sft_choice_config(  # noqa: ANN201 - trl.SFTConfig
    inputs: ACTInputs, output_dir: Path, max_length: int | None = None
):
    """`trl.SFTConfig` for `act.objective: sft`; `max_length` is the one `supervised_trainer`
    fits to the rows (built without them, for `actrain plan`, nothing is truncated)."""
    from trl import SFTConfig

    defaults = _defaults(inputs, output_dir, max_length)
    defaults.update(completion_only_loss=True)
    defaults.update(passthrough("act.sft", inputs.act.sft, OWN_KEYS))
    try:
        return SFTConfig(**defaults)
    except (TypeError, ValueError) as exc:
        raise ActrainError(f"act.sft: {exc} (keys go to trl.SFTConfig)") from None


def dpo_choice_config(  # noqa: ANN201 - trl.DPOConfig
    inputs: ACTInputs, output_dir: Path, max_length: int | None = None
):
    """`trl.DPOConfig` for `act.objective: dpo`; `max_length` as in `sft_choice_config`."""
    from trl import DPOConfig

    defaults = _defaults(inputs, output_dir, max_length)
    defaults.update(beta=0.1)
    defaults.update(passthrough("act.dpo", inputs.act.dpo, OWN_KEYS))
    try:
        return DPOConfig(**defaults)
    except (TypeError, ValueError) as exc:
        raise ActrainError(f"act.dpo: {exc} (keys go to trl.DPOConfig)") from None


def supervised_trainer(  # noqa: ANN201 - a trl.SFTTrainer or trl.DPOTrainer
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    train_pairs: Sequence[dict[str, Any]],
    inputs: ACTInputs,
    out_dir: Path,
    callbacks: list[TrainerCallback],
):
    """The SFT or DPO trainer for the choice, its `max_length` fitted to the longest row (both
    answers for DPO); the measured lengths go to the stage's `length.json`."""
    examples = choice_examples(tokenizer, train_pairs, inputs)
    act, peft = inputs.act, lora_config(inputs.trainer.peft)
    sft = act.objective == "sft"
    answers = [examples["chosen"]] if sft else [examples["chosen"], examples["rejected"]]
    lengths = sequence_lengths(tokenizer, examples["prompt"], *answers)
    max_length = fitted_max_length(f"act.{act.objective}", lengths, act.sft if sft else act.dpo)
    if sft:
        from actrain.stages.sft_trainer import PlainHeadSFTTrainer

        dataset = Dataset.from_dict(
            {"prompt": examples["prompt"], "completion": examples["chosen"]}
        )
        trainer = PlainHeadSFTTrainer(model=model,
                                     args=sft_choice_config(inputs, out_dir / "trainer",
                                                            max_length),
                                     train_dataset=dataset, processing_class=tokenizer,
                                     callbacks=callbacks, peft_config=peft)
    else:
        from actrain.stages.choice_dpo import ChoiceDPOTrainer

        trainer = ChoiceDPOTrainer(
            model=model, args=dpo_choice_config(inputs, out_dir / "trainer", max_length),
            train_dataset=Dataset.from_dict(examples), processing_class=tokenizer,
            callbacks=callbacks, peft_config=peft, pack=act.shared_prompt_pass,
            decision_only=act.dpo_scope == "decision")
    trainer.sequence_lengths = lengths_record(lengths, trainer.args.max_length)
    return trainer
