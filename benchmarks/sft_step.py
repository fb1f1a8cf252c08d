"""IL step time: TRL's `SFTTrainer` (its fused LM head) against `PlainHeadSFTTrainer` (the
model's own head and loss), same rows, model, seed and batch, in one run.

On a device where TRL's fused head has no Triton kernel (the CPU) it folds vocabulary tiles with
torch ops; `stages/sft_trainer.py` then uses the model's own forward. Prints each variant's median
step time (the first step is a warm-up and not counted), the first step's loss of each (the same
objective, so they should agree to rounding) and the ratio.
Usage: python benchmarks/sft_step.py [--trajectories runs/act-effect/trajectories/train.jsonl]
       [--steps 6] [--batch 8]
Without the file, the expert trajectories of the first TWC training games are collected.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path

from step_clock import StepClock  # benchmarks/step_clock.py, beside this script

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def expert_trajectories(path: str, rows: int) -> list[dict]:
    from actrain.data.trajectories import collect_expert_trajectory
    from actrain.envs import make
    from actrain.runtime.io import read_trajectories

    if Path(path).exists():
        return read_trajectories(Path(path))
    found: list[dict] = []
    with make("twx/twc") as env:
        for task in env.expert_tasks("train"):
            found.append(collect_expert_trajectory(env, task))
            if sum(len(t.steps) for t in found) >= rows:
                return found
    return found


def run(variant: str, trajectories: list[dict], args: argparse.Namespace) -> tuple[list, float]:
    """(step times, first logged loss) of `args.steps` IL steps with `variant`'s trainer."""
    from trl import SFTTrainer

    from actrain.config.schema import load_config
    from actrain.runtime.device import resolve_device, resolve_dtype
    from actrain.runtime.models import load_model
    from actrain.stages.il import il_dataset, sft_config
    from actrain.stages.inputs import stage_inputs
    from actrain.stages.sft_trainer import PlainHeadSFTTrainer

    device = resolve_device("auto")
    config = load_config(None, [
        f"model={args.model}", f"device={device}", f"dtype={resolve_dtype('auto', device)}",
        f"il.max_steps={args.steps}", f"il.batch_size={args.batch}", "data.history_len=0",
        f"seed={args.seed}",
    ])
    inputs = stage_inputs(config, "il")
    times: list[float] = []

    model, tokenizer = load_model(args.model, config.dtype, device, for_training=True)
    dataset = il_dataset(tokenizer, trajectories, inputs.view)
    cls = PlainHeadSFTTrainer if variant == "plain-head" else SFTTrainer
    with tempfile.TemporaryDirectory() as tmp:
        trainer = cls(model=model, args=sft_config(inputs, Path(tmp), 1024),
                      train_dataset=dataset, processing_class=tokenizer,
                      callbacks=[StepClock(times)])
        trainer.args.disable_tqdm = True
        trainer.train()
    loss = next(row["loss"] for row in trainer.state.log_history if "loss" in row)
    return times[1:], float(loss)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--trajectories", default="runs/act-effect/trajectories/train.jsonl")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    trajectories = expert_trajectories(args.trajectories, args.steps * args.batch)
    medians = {}
    for variant in ("fused-head", "plain-head"):
        times, loss = run(variant, trajectories, args)
        medians[variant] = statistics.median(times)
        print(f"{variant:10s} median {medians[variant]:6.2f} s/step over {len(times)} steps "
              f"(min {min(times):.2f}, max {max(times):.2f}); first loss {loss:.4f}", flush=True)
    print(f"{args.batch} rows a step, model {args.model}")
    print(f"speed-up of plain-head over fused-head: "
          f"{medians['fused-head'] / medians['plain-head']:.2f}x")


if __name__ == "__main__":
    main()
