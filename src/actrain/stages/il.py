"""The IL stage: supervised fine-tuning (TRL's `SFTTrainer`) on expert (state, action) pairs.

Each example is a prompt-completion pair: the prompt is the agent prompt at an expert state (the
same text rollouts show the agent), the completion the expert action closed by its tag and the
end-of-turn token. The loss covers the completion only (TRL's `completion_only_loss`).

TRL cuts a row longer than `max_length` keeping its start, which drops the completion, the only
labelled part: a long state (a WebShop item page, a ScienceWorld `look` with history) would
train nothing or a cut-off action. So every SFT stage measures its rows with the model's
tokenizer and trains with a `max_length` that holds the longest one (`fitted_max_length`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datasets import Dataset
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from actrain.config.schema import RunConfig
from actrain.data.trajectories import actor_examples
from actrain.errors import ActrainError
from actrain.prompts import ActorView, actor_target, trl_prompts
from actrain.stages.common import (
    OWN_KEYS,
    lora_config,
    passthrough,
    split_batch,
    train_and_save,
    trainer_defaults,
)
from actrain.stages.inputs import (
    ILInputs,
    SFTInputs,
    TrainerSettings,
    actor_view,
    sft_section,
)
from actrain.stages.registry import PlanWork, Stage, StageData


@dataclass(frozen=True)
class SequenceLengths:
    """The longest prompt and the longest whole row (prompt + completion + end-of-sequence) of a
    dataset, in the model's tokens, counted as TRL tokenizes them."""

    longest_prompt: int
    longest_row: int


def sequence_lengths(
    tokenizer: PreTrainedTokenizerBase, prompts: Sequence[str],
    *completions: Sequence[str], chunk: int = 256,
) -> SequenceLengths:
    """Measure rows as TRL builds them: the prompt, and the prompt followed by each completion
    column with the end-of-sequence token TRL appends. Counted in chunks so that a large
    dataset's token ids are never all held at once."""
    eos = tokenizer.eos_token or ""
    longest_prompt = longest_row = 0
    for start in range(0, len(prompts), chunk):
        part = list(prompts[start:start + chunk])
        ids = tokenizer(part)["input_ids"]
        longest_prompt = max([longest_prompt, *map(len, ids)])
        for column in completions:
            rows = [p + (c if c.endswith(eos) else c + eos)
                    for p, c in zip(part, column[start:start + chunk], strict=True)]
            longest_row = max([longest_row, *map(len, tokenizer(rows)["input_ids"])])
    return SequenceLengths(longest_prompt, longest_row)


def fitted_max_length(
    where: str, lengths: SequenceLengths, extra: Mapping[str, Any]
) -> int | None:
    """TRL's `max_length` for a supervised stage: the longest row, so that no completion is cut.

    `extra` is the stage's TRL mapping (`il.sft`, `act.dpo`, ...); a `max_length` set there is a
    ceiling the rows must fit under (None: no truncation). A row over it is refused rather than
    trained with its labelled end cut off."""
    if "max_length" not in extra:
        return lengths.longest_row
    ceiling = extra["max_length"]
    if ceiling is not None and lengths.longest_row > ceiling:
        raise ActrainError(f"{where}.max_length {ceiling} would cut the labelled completion: the "
                           f"longest prompt is {lengths.longest_prompt} tokens and the longest "
                           f"row {lengths.longest_row}; raise {where}.max_length to "
                           f"{lengths.longest_row} or more, or shorten data.history_len")
    return ceiling


def lengths_record(lengths: SequenceLengths, max_length: int | None) -> dict[str, Any]:
    """What `length.json` shows of a supervised stage's rows beside its steps and epochs: how
    long its prompts were and what TRL was allowed to keep (`stage_length` reads it from the
    trainer's `sequence_lengths`)."""
    return {"longest_prompt_tokens": lengths.longest_prompt,
            "longest_row_tokens": lengths.longest_row, "max_length": max_length}


def il_dataset(
    tokenizer: PreTrainedTokenizerBase, trajectories: Sequence[dict[str, Any]], view: ActorView
) -> Dataset:
    """The expert states as prompt-completion rows; a thinking model's completion opens with an
    empty thinking block where its prompt can think (`prompts.actor_target`), so that IL does
    not teach it to drop the block its template frames every answer with."""
    reasoning = view.reasoning
    rows = actor_examples(tokenizer, list(trajectories), view)
    if not rows:
        raise ActrainError("the IL stage has no expert states to train on")
    return Dataset.from_dict(
        {
            "prompt": trl_prompts(tokenizer, [r.prompt for r in rows], "IL"),
            "completion": [actor_target(tokenizer, r.prompt, r.expert_action, reasoning,
                                        view.il_thinking) for r in rows],
        }
    )


def sft_config(  # noqa: ANN201 - trl.SFTConfig
    inputs: SFTInputs, output_dir: Path, max_length: int | None = None
):
    """`trl.SFTConfig` for an SFT stage (IL, or Early Experience's `sr` / `iwm`) from its own
    section; the section's `sft:` mapping adds any other TRL field.

    `max_length` is the one `run_sft` fits to the data; a config built without the data
    (`actrain plan`, preflight) truncates nothing."""
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
        max_length=max_length,
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
    checkpoint (`out_dir/checkpoint`). IL and the Early Experience stages differ only in rows.

    `max_length` holds the longest row (or the section's own ceiling, refused when a row is
    over it), so that TRL never cuts a completion; `length.json` records the lengths."""
    from actrain.stages.sft_trainer import PlainHeadSFTTrainer

    out_dir.mkdir(parents=True, exist_ok=True)
    name, section = sft_section(inputs)
    lengths = sequence_lengths(tokenizer, list(dataset["prompt"]),
                               list(dataset["completion"]))
    max_length = fitted_max_length(f"{name}.sft", lengths, section.sft)
    peft = inputs.trainer.peft
    trainer = PlainHeadSFTTrainer(
        model=model,
        args=sft_config(inputs, out_dir / "trainer", max_length),
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=lora_config(peft),
    )
    trainer.sequence_lengths = lengths_record(lengths, trainer.args.max_length)
    return train_and_save(trainer, tokenizer, out_dir, peft.merge)


def _inputs(config: RunConfig, name: str, trainer: TrainerSettings) -> ILInputs:
    return ILInputs(config.il, actor_view(config), trainer)


def _train(model: Any, tokenizer: Any, inputs: ILInputs, data: StageData, out: Path) -> Path:
    return run_il(model, tokenizer, data.trajectories(), inputs, out)


def _plan(config: RunConfig, name: str, states: float) -> PlanWork:
    return PlanWork(grpo=False, settings=config.il, rows=states, completion=16)  # an action


STAGE = Stage("il", "il", _inputs, "collect", sft_config, _train, _plan)
