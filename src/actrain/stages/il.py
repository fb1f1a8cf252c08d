"""The IL stage: supervised fine-tuning (TRL's `SFTTrainer`) on expert (state, action) pairs.

Each example is a prompt-completion pair: the prompt is the agent prompt at an expert state (the
same text rollouts show the agent), the completion the expert action closed by its tag and the
end-of-turn token. The loss covers the completion only (TRL's `completion_only_loss`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from datasets import Dataset
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from actrain.data.trajectories import actor_examples
from actrain.errors import ActrainError
from actrain.methods import ILInputs, SFTInputs, sft_section
from actrain.prompts import ActorView
from actrain.stages.common import (
    OWN_KEYS,
    lora_config,
    passthrough,
    split_batch,
    train_and_save,
    trainer_defaults,
)


def il_dataset(
    tokenizer: PreTrainedTokenizerBase, trajectories: Sequence[dict[str, Any]], view: ActorView
) -> Dataset:
    reasoning = view.reasoning
    rows = actor_examples(
        tokenizer, list(trajectories), view.history_len, view.show_admissible, reasoning
    )
    if not rows:
        raise ActrainError("the IL stage has no expert states to train on")
    # With reasoning off the prompt already ends in the opening tag.
    opening = "<action>" if reasoning else ""
    return Dataset.from_dict(
        {
            "prompt": [r["prompt"] for r in rows],
            "completion": [f"{opening}{r['expert_action']}</action>" for r in rows],
        }
    )


def sft_config(inputs: SFTInputs, output_dir: Path):  # noqa: ANN201 - trl.SFTConfig
    """`trl.SFTConfig` for an SFT stage (IL, or Early Experience's `sr` / `iwm`) from its own
    section; the section's `sft:` mapping adds any other TRL field."""
    from trl import SFTConfig

    name, il = sft_section(inputs)
    defaults = trainer_defaults(
        output_dir, inputs.trainer, il.max_steps, il.learning_rate, il.save_steps
    )
    per_device, accumulation = split_batch(name, il.batch_size, il.micro_batch)
    defaults.update(
        num_train_epochs=il.epochs,
        per_device_train_batch_size=per_device,
        gradient_accumulation_steps=accumulation,
        completion_only_loss=True,
        max_length=1024,
        lr_scheduler_type="cosine",
        warmup_steps=0.1,  # a fraction of the steps
    )
    defaults.update(passthrough(f"{name}.sft", il.sft, OWN_KEYS))
    try:
        return SFTConfig(**defaults)
    except (TypeError, ValueError) as exc:
        raise ActrainError(f"{name}.sft: {exc} (keys go to trl.SFTConfig)") from None


def run_il(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    trajectories: Sequence[dict[str, Any]],
    inputs: ILInputs,
    out_dir: Path,
) -> Path:
    """Fine-tune on the expert actions; returns the final checkpoint (`out_dir/checkpoint`)."""
    return run_sft(model, tokenizer, il_dataset(tokenizer, trajectories, inputs.view), inputs,
                   out_dir)


def run_sft(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    dataset: Dataset,
    inputs: SFTInputs,
    out_dir: Path,
) -> Path:
    """TRL's `SFTTrainer` on prompt-completion rows with the stage's settings; returns the final
    checkpoint (`out_dir/checkpoint`). IL and the Early Experience stages differ only in rows."""
    from trl import SFTTrainer

    out_dir.mkdir(parents=True, exist_ok=True)
    peft = inputs.trainer.peft
    trainer = SFTTrainer(
        model=model,
        args=sft_config(inputs, out_dir / "trainer"),
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=lora_config(peft),
    )
    return train_and_save(trainer, tokenizer, out_dir, peft.merge)
