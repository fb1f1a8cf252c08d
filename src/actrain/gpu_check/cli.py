"""The command line: `python -m actrain.gpu_check [--cpu] [--out gpu-check.json] ...` runs every
stage in order and writes the JSON; `--worker` is the launched process of a sharded stage."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from actrain.gpu_check.runner import Check, run_stage
from actrain.gpu_check.settings import LAUNCH_CONFIGS, STAGES
from actrain.gpu_check.sharded_worker import worker
from actrain.gpu_check.stages_environment import stage_environment
from actrain.gpu_check.stages_models import (
    stage_embedded_model,
    stage_logprobs_cuda_vs_cpu,
    stage_tiny_model,
)
from actrain.gpu_check.stages_sharded import stage_act_fsdp2, stage_act_zero3
from actrain.gpu_check.stages_training import stage_lora_merge, stage_pipeline
from actrain.gpu_check.stages_vllm import stage_vllm_twice

STAGE_FUNCTIONS: dict[str, Callable[[Check], dict[str, Any]]] = {
    "environment": stage_environment, "tiny_model": stage_tiny_model,
    "embedded_model": stage_embedded_model, "logprobs_cuda_vs_cpu": stage_logprobs_cuda_vs_cpu,
    "pipeline": stage_pipeline, "lora_merge": stage_lora_merge, "act_fsdp2": stage_act_fsdp2,
    "act_zero3": stage_act_zero3, "vllm_twice": stage_vllm_twice,
}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The check's options; `--worker` and `--result` are hidden: only `launch_worker` passes
    them, to the process it launches."""
    parser = argparse.ArgumentParser(
        prog="python -m actrain.gpu_check",
        description="Run actrain's GPU paths once on one GPU and write one JSON of results "
                    "(docs/gpu-check.md).")
    parser.add_argument("--cpu", action="store_true",
                        help="dry run on the CPU in fp32; what needs CUDA is skipped")
    parser.add_argument("--out", type=Path, default=Path("gpu-check.json"),
                        help="the results JSON (default: gpu-check.json)")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where runs and models go (default: a temporary folder, removed)")
    parser.add_argument("--bundle", type=Path, default=None,
                        help="the offline bundle (default: .gpu-check if present, filled by "
                             "tests/gpu/fetch.sh); its smollm2-135m/ builds the stand-in when "
                             "the embedded model is not installed")
    parser.add_argument("--standin", action="store_true",
                        help="use the random-weights stand-in of the embedded model even "
                             "where the real one is installed")
    parser.add_argument("--only", nargs="+", choices=STAGES, default=[],
                        help="run these stages (and `environment`), skip the rest")
    parser.add_argument("--budget", type=float, default=480,
                        help="seconds after which stages not yet started are skipped")
    parser.add_argument("--worker", choices=sorted(LAUNCH_CONFIGS), help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def new_check(args: argparse.Namespace, argv: Sequence[str] | None) -> Check:
    """The run's context from the command line: its work folder (made now), the bundle
    (`.gpu-check` when present), the deadline, and the JSON's header."""
    work = args.workdir or Path(tempfile.mkdtemp(prefix="actrain-gpu-check-"))
    work = work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    bundle = args.bundle or (Path(".gpu-check") if Path(".gpu-check").is_dir() else None)
    bundle = bundle.resolve() if bundle else None
    check = Check(cpu=args.cpu, work=work, out=args.out.resolve(), bundle=bundle,
                  standin=args.standin, deadline=time.time() + args.budget,
                  only={*args.only, "environment"} if args.only else set())
    given = list(argv) if argv is not None else sys.argv[1:]
    command = " ".join(["python -m actrain.gpu_check", *given])
    check.results.update(mode="cpu" if args.cpu else "cuda", command=command,
                         workdir=str(work), stages={})
    return check


def run_stages(check: Check) -> None:
    """Every stage in order; when `environment` fails (no GPU, no embedded model) the rest
    cannot mean anything and are recorded as skipped for that reason."""
    for name in STAGES:
        record = run_stage(check, name, STAGE_FUNCTIONS[name])
        if name == "environment" and record["status"] == "failed":
            for rest in STAGES[1:]:
                check.results["stages"][rest] = {
                    "status": "skipped", "ok": None, "seconds": 0.0,
                    "reason": "the environment stage failed"}
            break


def summarize(check: Check) -> list[str]:
    """Print the one-line verdict; the failed stages, which decide the exit code."""
    stages = check.results["stages"]
    failed = [n for n, s in stages.items() if s["status"] == "failed"]
    skipped = [n for n, s in stages.items() if s["status"] == "skipped"]
    print(f"gpu-check: {'FAILED: ' + ', '.join(failed) if failed else 'ok'}"
          f"{'; skipped: ' + ', '.join(skipped) if skipped else ''}; "
          f"{check.results['seconds']} s; {check.out}", flush=True)
    return failed


def main(argv: Sequence[str] | None = None) -> int:
    """Run every stage, write the JSON to `--out`; exit code 1 if any stage failed. With
    `--worker`, be the launched process of a sharded stage instead."""
    args = parse_args(argv)
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    if args.worker:
        return worker(args.worker, args.workdir, args.result, args.cpu)
    check = new_check(args, argv)
    print(f"gpu-check: {'CPU dry run' if args.cpu else 'CUDA'}, work in {check.work}, results "
          f"to {check.out}", flush=True)
    try:
        run_stages(check)
    finally:
        check.write()
        if args.workdir is None:  # a temporary folder of this run's own
            shutil.rmtree(check.work, ignore_errors=True)
    return 1 if summarize(check) else 0
