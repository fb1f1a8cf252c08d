"""`make rehearsal`: the 8B configs' code path end to end on a CPU machine.

`configs/alfworld-qwen3-8b.yaml` runs as written, except for what a CPU cannot hold: the model
(a tiny random Qwen3-architecture model with a thinking chat template, in place of Qwen3-8B),
the data (the three hand-authored ALFWorld games of `tests/data/alfworld`), the sizes (steps,
tokens, episodes) and the launch (2 processes under DeepSpeed ZeRO-3 on the CPU,
`configs/accelerate/zero3-cpu.yaml`). GRPO keeps the config's colocated vLLM engine (the CPU
build), its weight sync and gradient checkpointing; the pipeline is the config's own
(collect -> pairs -> ACT -> IL -> RL -> critic and agent evaluation -> report).

Every override is printed before the run starts, so a reader sees exactly what differs from the
GPU run. The random model answers nothing well-formed, so the figures it prints mean nothing:
what the rehearsal shows is that every step of the GPU run's code path runs, under a launcher,
on the real libraries.

    python -m actrain.cli.rehearsal [--runs-dir runs] [--name rehearsal] [KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
CONFIG = ROOT / "configs" / "alfworld-qwen3-8b.yaml"
LAUNCH = ROOT / "configs" / "accelerate" / "zero3-cpu.yaml"
GAMES = ROOT / "tests" / "data" / "alfworld"
MODEL = "tiny-qwen3-thinking"

# Qwen3's chat template reduced to what actrain reads of it: ChatML turns, and a thinking
# switch whose "off" writes the empty block before the answer.
THINKING_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n"
    "{% if enable_thinking is defined and enable_thinking is false %}<think>\n\n</think>\n\n"
    "{% endif %}{% endif %}"
)

# What differs from the GPU run, and why: each printed before the run.
SIZES = {
    # ALFWorld's full data needs the internet; these are its three hand-authored games
    "env.kwargs.data_dir": str(GAMES),
    "data.train_tasks": "1",
    "data.eval_tasks": "1",
    # a random model's thoughts never close: without a fallback no state would get a pair
    "alternatives.random_fallback": "true",
    "alternatives.samples_per_state": "2",
    "alternatives.max_new_tokens": "16",
    "critic.max_new_tokens": "16",
    # steps, not the paper's 3 epochs; groups of 2 on 2 prompts a step (one a process)
    "act.max_steps": "2", "act.prompts_per_step": "2", "act.num_generations": "2",
    "act.micro_batch": "2", "act.save_steps": "0", "act.eval_every": "1",
    "il.max_steps": "2", "il.batch_size": "2", "il.micro_batch": "1", "il.save_steps": "0",
    "rl.max_steps": "2", "rl.prompts_per_step": "2", "rl.num_generations": "2",
    "rl.micro_batch": "2", "rl.max_new_tokens": "16", "rl.save_steps": "0",
    "rollout.episodes": "1", "rollout.max_steps": "3", "rollout.max_new_tokens": "16",
    "rollout.thinking_max_new_tokens": "16", "rollout.batch_size": "2",
    "eval.max_pairs": "8", "eval.batch_size": "4",
    "device": "cpu",
    # the config's `auto` picks HF generate on a CPU (vLLM's CPU build scores 5.5x slower) and
    # vLLM on the GPUs: the rehearsal takes the GPU run's engine
    "generation.backend": "vllm",
}


def tiny_qwen3(folder: Path) -> Path:
    """A 2-layer random Qwen3 (head size 32, which vLLM's CPU attention takes) with the
    embedded tokenizer and a thinking template; 8k positions, as the config's vLLM context."""
    from functools import partial

    from actrain.runtime.models import built_once, save_random_model

    return built_once(folder, partial(save_random_model, model_type="qwen3", heads=2,
                                      kv_heads=1, head_dim=32, positions=8192,
                                      chat_template=THINKING_TEMPLATE))


def overrides(model: Path, runs_dir: str, name: str, extra: list[str]) -> list[str]:
    """The rehearsal's `KEY=VALUE` overrides of the 8B config, the caller's last."""
    return [f"model={model}", f"runs_dir={runs_dir}", f"name={name}",
            *(f"{key}={value}" for key, value in SIZES.items()), *extra]


def command(items: list[str]) -> list[str]:
    """`accelerate launch` of `actrain run` on the 8B config with the overrides `items`."""
    from actrain.runtime.distributed import free_port

    return [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(LAUNCH),
            "--main_process_port", str(free_port()), "-m", "actrain", "run", str(CONFIG),
            *items]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m actrain.cli.rehearsal", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs-dir", default="runs")
    parser.add_argument("--name", default="rehearsal")
    parser.add_argument("extra", nargs="*", help="more KEY=VALUE overrides")
    args = parser.parse_args(argv)
    from actrain.runtime.models import cache_dir

    model = tiny_qwen3(cache_dir() / "models" / MODEL)
    items = overrides(model, args.runs_dir, args.name, args.extra)
    print(f"rehearsal: {CONFIG.relative_to(ROOT)} on 2 CPU processes under DeepSpeed ZeRO-3 "
          f"({LAUNCH.relative_to(ROOT)}), GRPO with TRL's colocated vLLM (CPU build)")
    print("rehearsal: what differs from the GPU run (KEY=VALUE overrides):")
    for item in items:
        print(f"  {item}")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": "",
           "VLLM_CPU_KVCACHE_SPACE": os.environ.get("VLLM_CPU_KVCACHE_SPACE", "1"),
           "HF_HUB_OFFLINE": "1"}
    start = time.time()
    code = subprocess.call(command(items), env=env)
    run = Path(args.runs_dir) / args.name
    print(summary(run, code, time.time() - start))
    return code


def summary(run: Path, code: int, seconds: float) -> str:
    """What ran: each step of the run with its time (`stages.json`), then rc and wall time."""
    import json

    from actrain.runtime.run_folder import RunFolder

    folder = RunFolder(run)
    lines = [f"rehearsal: rc {code} in {seconds:.0f} s; the run is in {run}"]
    try:
        steps = json.loads(folder.stages_file.read_text())
    except (OSError, ValueError):
        return lines[0] + " (no stages.json: it stopped before its first step ended)"
    lines += [f"  {step:<28} {done.get('seconds', 0):6.1f} s" for step, done in steps.items()]
    if folder.report_file.exists():
        lines.append(f"rehearsal: report {folder.report_file}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
