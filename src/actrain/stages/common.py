"""What the training stages share: TRL argument defaults for a CPU, resuming, atomic saving.

Each stage (ACT, IL, RL) trains in `<stage dir>/trainer` (TRL's own checkpoints, for resuming)
and saves its final weights atomically to `<stage dir>/checkpoint`, the only file the next stage
or an evaluation reads.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from actrain.config.schema import PeftConfig
from actrain.errors import ActrainError
from actrain.runtime import distributed
from actrain.runtime.io import write_json
from actrain.stages.inputs import TrainerSettings

_PLANNED_WORLD: list[int] = []


def world_size() -> int:
    """Processes training together (`accelerate launch` / torchrun set WORLD_SIZE)."""
    return _PLANNED_WORLD[-1] if _PLANNED_WORLD else int(os.environ.get("WORLD_SIZE", "1"))


@contextlib.contextmanager
def planned_world(size: int) -> Iterator[None]:
    """Derive batches for `size` processes without starting them (`actrain plan`)."""
    _PLANNED_WORLD.append(size)
    try:
        yield
    finally:
        _PLANNED_WORLD.pop()


def split_batch(section: str, total: int, micro: int, unit: int = 1) -> tuple[int, int]:
    """(per-device batch, gradient accumulation steps) for a global batch of `total` rows.

    Configs state global batches, so a run means the same optimisation on 1 or 64 GPUs; each
    process takes `total / world` rows, `micro` of them at a time. `unit` rows (a GRPO group)
    stay on one process.
    """
    world = world_size()
    if total % (world * unit):
        grouped = f" in whole groups of {unit}" if unit > 1 else ""
        step = world  # rows are prompts x unit: the prompts must split over the processes
        below, above = (total // unit) // step * step, ((total // unit) // step + 1) * step
        near = f"{below} or {above}" if below else f"{above}"
        key = "prompts_per_step" if unit > 1 else "batch_size"
        raise ActrainError(f"{section}: {total} rows a step cannot be split evenly over "
                           f"{world} processes{grouped}: set {section}.{key} to a multiple of "
                           f"{step} ({near}; with vllm_mode: server the GPU that serves vLLM "
                           "is not a training process)")
    share = total // world
    micro = micro or share
    if micro < 1 or share % micro:
        raise ActrainError(f"{section}.micro_batch must divide each process's {share} rows a "
                           f"step, got {micro}")
    return micro, share // micro


# TRL fields a section sets from its own keys. Passing one again through `grpo:` / `sft:` /
# `dpo:` would override the section's key without a word (and the report would print the
# value that did not run), so it is refused: each setting has one home.
OWN_KEYS = {
    "max_steps": "max_steps", "learning_rate": "learning_rate", "seed": "seed (top level)",
    "num_train_epochs": "epochs", "save_steps": "save_steps", "output_dir": "runs_dir / name",
    "per_device_train_batch_size": "the batch keys and micro_batch",
    "gradient_accumulation_steps": "micro_batch",
    "report_to": "report_to (top level)", "run_name": "run_name (top level)",
}
GRPO_OWN_KEYS = {**OWN_KEYS, "num_generations": "num_generations", "temperature": "temperature",
                 "beta": "beta"}


def passthrough(where: str, mapping: dict[str, Any], owned: dict[str, str]) -> dict[str, Any]:
    """`mapping` (e.g. `act.grpo`) if it sets nothing its section sets itself."""
    clash = sorted(set(mapping) & set(owned))
    if clash:
        home = owned[clash[0]]
        if not home.endswith("(top level)"):
            home = f"{where.split('.')[0]}.{home}"
        raise ActrainError(f"{where}.{clash[0]} would override {home}: set it there (each "
                           f"setting has one home)")
    return mapping


def trainer_defaults(
    output_dir: Path, trainer: TrainerSettings, max_steps: int, learning_rate: float,
    save_steps: int,
) -> dict[str, Any]:
    """Arguments every TRL trainer gets here: the run's device and dtype, logging every step."""
    seed, dtype = trainer.seed, trainer.dtype
    return {
        "output_dir": str(output_dir),
        "max_steps": max_steps if max_steps > 0 else -1,
        "learning_rate": learning_rate,
        "seed": seed,
        "data_seed": seed,
        "logging_steps": 1,
        "report_to": list(trainer.report_to) or "none",
        "run_name": trainer.run_name or None,
        "save_strategy": "steps" if save_steps else "no",
        "save_steps": save_steps or 500,
        "save_total_limit": 1,
        # Without it TRL refuses bf16 on a host with no GPU; `device: cpu` keeps a GPU host off.
        "use_cpu": not trainer.device.startswith("cuda"),
        "bf16": dtype in ("bfloat16", "bf16"),
        # Recomputing activations costs a third more compute; small models fit without it.
        # Turn it on through `act.grpo` / `rl.grpo` / `il.sft` for large models.
        "gradient_checkpointing": False,
        "dataloader_num_workers": 0,
        "disable_tqdm": False,
        # The process group already exists (made with this timeout); TRL's would not apply.
        "ddp_timeout": distributed.timeout_seconds(),
    }


def grpo_steps(stage: Any, data_rows: int | None) -> int:
    """A GRPO stage's length: `max_steps`, or with `max_steps: 0` `epochs` passes over its own
    `data_rows` (pairs for ACT, expert states for RL), `prompts_per_step` rows a step. Without
    the data (a config built only to be checked, `actrain plan`) it is 1."""
    if stage.max_steps > 0:
        return stage.max_steps
    if stage.epochs <= 0:
        raise ActrainError("a GRPO stage with max_steps 0 needs epochs > 0")
    if data_rows is None:
        return 1
    return max(1, math.ceil(stage.epochs * data_rows / stage.prompts_per_step))


def grpo_args(
    stage: Any,  # GRPOStageConfig
    section: str,
    output_dir: Path,
    trainer: TrainerSettings,
    max_completion_length: int,
    data_rows: int | None = None,
    **extra: Any,
):  # noqa: ANN201 - trl.GRPOConfig
    """`trl.GRPOConfig` for a GRPO stage; the stage's `grpo:` mapping overrides anything.

    `data_rows`: the dataset's rows, from which `epochs` sets the steps when `max_steps` is 0.
    """
    from trl import GRPOConfig

    steps = grpo_steps(stage, data_rows)
    defaults = trainer_defaults(
        output_dir, trainer, steps, stage.learning_rate, stage.save_steps
    )
    per_device, accumulation = split_batch(
        section, stage.prompts_per_step * stage.num_generations, stage.micro_batch,
        unit=stage.num_generations,
    )
    defaults.update(
        beta=stage.beta,
        num_generations=stage.num_generations,
        per_device_train_batch_size=per_device,
        gradient_accumulation_steps=accumulation,
        max_completion_length=max_completion_length,
        temperature=stage.temperature,
        top_k=0,
        lr_scheduler_type="constant_with_warmup",
        warmup_steps=min(5, max(0, steps // 10)),
    )
    defaults.update(extra)
    defaults.update(passthrough(f"{section}.grpo", stage.grpo, GRPO_OWN_KEYS))
    try:
        return GRPOConfig(**defaults)
    except (TypeError, ValueError) as exc:
        raise ActrainError(f"{section}.grpo: {exc} (keys go to trl.GRPOConfig)") from None


def lora_config(settings: PeftConfig):  # noqa: ANN201 - peft.LoraConfig | None
    """The `peft_config` every TRL trainer of a run gets: None unless `peft.enabled`."""
    if not settings.enabled:
        return None
    from peft import LoraConfig

    modules = settings.target_modules
    return LoraConfig(
        r=settings.r, lora_alpha=settings.alpha, lora_dropout=settings.dropout,
        target_modules=modules[0] if modules == ["all-linear"] else modules,
        task_type="CAUSAL_LM",
    )


def latest_trainer_checkpoint(trainer_dir: Path) -> Path | None:
    """The TRL checkpoint an interrupted stage resumes from (transformers' own rule)."""
    from transformers.trainer_utils import get_last_checkpoint

    found = get_last_checkpoint(str(trainer_dir)) if trainer_dir.is_dir() else None
    return Path(found) if found else None


def stage_length(trainer: Any) -> dict[str, Any]:
    """How long a stage trained, in steps and in epochs over its own dataset: the figure the
    matched-length controls compare (`il_il` against `act_il`, `il_rl_rl` against the full
    pipeline). A step takes per-device batch x accumulation x processes rows; GRPO samples each
    dataset row `num_generations` times, so a step takes that many fewer rows."""
    args = trainer.args
    rows_per_step = (args.per_device_train_batch_size * args.gradient_accumulation_steps
                     * trainer.accelerator.num_processes)
    rows_per_step //= getattr(args, "num_generations", None) or 1
    rows = len(trainer.train_dataset)
    steps = trainer.state.global_step
    return {"steps": steps, "rows_per_step": rows_per_step, "dataset_rows": rows,
            "epochs": round(steps * rows_per_step / rows, 3) if rows else 0.0,
            # what a supervised stage measured of its rows (`il.lengths_record`)
            **getattr(trainer, "sequence_lengths", {})}


def train_and_save(trainer: Any, tokenizer: Any, out_dir: Path, merge: bool = False) -> Path:
    """Train (resuming from the latest TRL checkpoint if any), then save weights atomically.

    A LoRA run saves its adapter (`models.load_model` merges it onto its base when loading);
    with `merge`, the checkpoint holds full merged weights and the adapter goes to `adapter/`.
    The trainer is let go afterwards, its colocated vLLM engine closed (`release_trainer`).
    """
    from actrain.runtime.release import release_trainer

    try:
        return _train_and_save(trainer, tokenizer, out_dir, merge)
    finally:
        release_trainer(trainer)


def _train_and_save(trainer: Any, tokenizer: Any, out_dir: Path, merge: bool) -> Path:
    resume = latest_trainer_checkpoint(out_dir / "trainer")
    trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    write_json(out_dir / "log_history.json", trainer.state.log_history)
    write_json(out_dir / "length.json", stage_length(trainer))
    final = out_dir / "checkpoint"
    tmp = out_dir / "checkpoint.tmp"
    main = trainer.accelerator.is_main_process
    if main and tmp.exists():
        shutil.rmtree(tmp)
    trainer.accelerator.wait_for_everyone()
    model = trainer.accelerator.unwrap_model(trainer.model)
    if merge and hasattr(model, "merge_and_unload"):
        trainer.save_model(str(tmp / "adapter"))  # every process: ZeRO-3 / FSDP gather it
        if main:
            # Not the model in memory: under ZeRO-3 or FSDP each process holds a shard of the
            # base weights. The saved adapter goes onto the base as read from disk, on the CPU.
            from actrain.runtime.models import merged_adapter

            merged_adapter(tmp / "adapter")[0].save_pretrained(str(tmp))
    else:
        trainer.save_model(str(tmp))
    trainer.accelerator.wait_for_everyone()
    if not main:
        return final
    tokenizer.save_pretrained(str(tmp))
    if trainer.args.bf16 and not trainer.args.use_cpu:
        from actrain.runtime.models import checkpoint_to_bf16

        # On GPUs the trained weights are fp32 (1 GPU / DDP) or FSDP2's fp32 copy; every later
        # load is bf16 there, so the checkpoint keeps bf16 at half the disk. A CPU run keeps
        # fp32, which its next stage trains from.
        checkpoint_to_bf16(tmp)
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)
    return final
