"""ACT step time: TRL's default GRPO step vs pair groups with one prompt pass, same data, one run.

Three variants train on the same pairs, model, seed and completions per step (G samples per TRL
group, `--rows` completions a step), direct choice with one-token answers:
  default   TRL's groups (one shown order each) and TRL's generation and scoring: every sample
            re-encodes its prompt (the ACT step before pair groups);
  pair      pair groups, TRL's generation and scoring;
  one-pass  pair groups, one forward per distinct shown prompt for sampling and for the loss.
With `--answer action` (answers in the agent's `<action>` tag, up to 16 tokens) the pair and
one-pass variants: one-pass then encodes each distinct prompt once and runs only the completions
per sample (`one_prompt_pass.shared_prefix_logps`, `sample_with_shared_prompts`).
With `--objective dpo`, two variants of the DPO step (`--rows` pairs-in-one-order a step):
  plain     TRL's `DPOTrainer` step: the chosen and the rejected row each run the whole prompt;
  packed    `ChoiceDPOTrainer`: each pair is one row that shares the prompt (same loss).
Both score the whole answer (`act.dpo_scope: answer`, TRL's own loss); the decision-token scope
changes which tokens are summed, not what is computed.
Prints the median step time of each (the first step is a warm-up and not counted) and the ratios.
Usage: python benchmarks/act_step.py [--pairs runs/twc-critic/pairs/train.jsonl] [--steps 6]
       python benchmarks/act_step.py --answer action
       python benchmarks/act_step.py --objective dpo --rows 8
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path

from step_clock import StepClock  # benchmarks/step_clock.py, beside this script

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

VARIANTS = {
    "grpo": {
        "default": ["act.advantage_group=prompt", "act.shared_prompt_pass=false"],
        "pair": ["act.advantage_group=pair", "act.shared_prompt_pass=false"],
        "one-pass": ["act.advantage_group=pair", "act.shared_prompt_pass=true"],
    },
    "dpo": {
        "plain": ["act.shared_prompt_pass=false", "act.dpo_scope=answer"],
        "packed": ["act.shared_prompt_pass=true", "act.dpo_scope=answer"],
    },
}
ANSWERS = {
    "index": ["critic.max_new_tokens=1"],
    "action": ["critic.answer_format=action", "critic.max_new_tokens=16"],
}


def step_times(variant: str, pairs: list[dict], args: argparse.Namespace) -> list[float]:

    from actrain.config.schema import load_config
    from actrain.runtime.device import resolve_device, resolve_dtype
    from actrain.runtime.models import load_model
    from actrain.stages.act import grpo_trainer
    from actrain.stages.act_supervised import supervised_trainer
    from actrain.stages.inputs import stage_inputs

    rows_per_prompt = args.generations
    device = resolve_device("auto")
    config = load_config(None, [
        f"model={args.model}", f"device={device}", f"dtype={resolve_dtype('auto', device)}",
        f"act.max_steps={args.steps}",
        f"act.num_generations={rows_per_prompt}",
        f"act.prompts_per_step={args.rows // rows_per_prompt}", *ANSWERS[args.answer],
        f"act.objective={args.objective}", f"act.batch_size={args.rows}",
        "data.history_len=1", *VARIANTS[args.objective][variant],
    ])
    times: list[float] = []

    model, tokenizer = load_model(args.model, config.dtype, device)
    with tempfile.TemporaryDirectory() as tmp:
        build = grpo_trainer if args.objective == "grpo" else supervised_trainer
        trainer = build(model, tokenizer, pairs, stage_inputs(config, "act"), Path(tmp),
                        [StepClock(times)])
        trainer.train()
    return times[1:]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--objective", choices=sorted(VARIANTS), default="grpo")
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--pairs", default="runs/twc-critic/pairs/train.jsonl")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--generations", type=int, default=8, help="G, samples per TRL group")
    parser.add_argument("--rows", type=int, default=16, help="completions per step")
    parser.add_argument("--answer", choices=sorted(ANSWERS), default="index",
                        help="GRPO answers: one index token, or the action's text")
    args = parser.parse_args()

    from actrain.runtime.io import read_jsonl

    pairs = read_jsonl(Path(args.pairs))[: args.steps * args.rows]
    medians = {}
    variants = list(VARIANTS[args.objective])
    if args.answer == "action":
        variants.remove("default")
    for variant in variants:
        times = step_times(variant, pairs, args)
        medians[variant] = statistics.median(times)
        print(f"{variant:9s} median {medians[variant]:6.2f} s/step over {len(times)} steps "
              f"(min {min(times):.2f}, max {max(times):.2f})", flush=True)
    if args.objective == "dpo":
        print(f"{args.rows} preference rows a step, model {args.model}")
        print(f"speed-up of packed over plain: {medians['plain'] / medians['packed']:.2f}x")
        return
    print(f"{args.rows} completions a step, G={args.generations}, {args.answer} answers, "
          f"model {args.model}")
    if "default" in medians:
        print(f"speed-up of one-pass over default: {medians['default'] / medians['one-pass']:.2f}x")
    print(f"speed-up of one-pass over pair:    {medians['pair'] / medians['one-pass']:.2f}x")


if __name__ == "__main__":
    main()
