"""The ZeRO-3 and FSDP2 stages: one ACT step in a process of its own under `accelerate launch`
with the shipped configs (`python -m actrain.gpu_check --worker ...`, see `sharded_worker`),
and whether accelerate really prepared the model that way."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from actrain.gpu_check.outcomes import CheckFailed, Skip
from actrain.gpu_check.runner import Check
from actrain.gpu_check.settings import LAUNCH_CONFIGS, LIMITS, MODULE
from actrain.gpu_check.stages_environment import versions
from actrain.gpu_check.tiny_pipeline import chooser_model
from actrain.runtime import distributed


def accelerate_config(name: str) -> Path:
    """A shipped accelerate config, from the checkout this package sits in or the working dir."""
    here = Path(__file__).resolve().parents[3] / "configs" / "accelerate" / name
    for path in (here, Path.cwd() / "configs" / "accelerate" / name):
        if path.exists():
            return path
    raise CheckFailed(f"configs/accelerate/{name} not found (run from the checkout)")


def worker_command(check: Check, stage: str, extra: Sequence[str], result: Path) -> list[str]:
    """`accelerate launch` of one process with the stage's shipped config, running this
    package's `--worker`, which writes its JSON to `result`."""
    return [
        sys.executable, "-m", "accelerate.commands.launch",
        "--config_file", str(accelerate_config(LAUNCH_CONFIGS[stage])),
        "--num_processes", "1", "--num_machines", "1", "--machine_rank", "0",
        "--main_process_port", str(distributed.free_port()), *extra,
        "-m", MODULE, "--worker", stage, "--workdir", str(check.work), "--result", str(result),
        *(["--cpu"] if check.cpu else []),
    ]


def run_as_process_group(command: list[str], log: Path, limit: int) -> int | None:
    """Run `command` with its output in `log`, in a process group of its own so that it and
    its children are killed together when it passes `limit` seconds or this process is
    interrupted (the stage's alarm, Ctrl-C): no orphans hold the GPU. None when it timed out."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with open(log, "w") as handle:
        process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, env=env,
                                   start_new_session=True)
        try:
            return process.wait(timeout=max(limit, 1))
        except BaseException as exc:  # the timeout, the stage's alarm, Ctrl-C: no orphans
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            if not isinstance(exc, subprocess.TimeoutExpired):
                raise
            return None


def launch_worker(check: Check, stage: str, extra: Sequence[str]) -> dict[str, Any]:
    """One ACT step in a process of its own under `accelerate launch` (one process), killed
    with its children if it runs past the stage's limit. Its own JSON comes back as details."""
    result = check.work / f"{stage}.result.json"
    log = check.work / f"{stage}.log"
    result.unlink(missing_ok=True)
    shutil.rmtree(check.work / "runs" / stage, ignore_errors=True)  # a fresh run, no reuse
    chooser_model(check.work)  # built here once, not in the launched process
    command = worker_command(check, stage, extra, result)
    # A little under the stage's own alarm, which would stop this process but not the launched
    # ones: those run in a process group of their own and are killed with it.
    limit = int(min(LIMITS[stage], max(check.deadline - time.time(), 1))) - 5
    code = run_as_process_group(command, log, limit)
    tail = log.read_text(errors="replace").splitlines()[-40:]
    report = json.loads(result.read_text()) if result.exists() else {}
    details = {"command": " ".join(command[1:]), "exit_code": code, "log_file": str(log),
               **report.get("details", {})}
    if report.get("peak"):
        details["worker_peak"] = report["peak"]
    if code is None or code != 0 or not report.get("ok"):
        why = (f"timed out after {limit} s" if code is None
               else report.get("error") or f"exit code {code}, no result written")
        details["log_tail"] = tail
        if report.get("traceback"):
            details["worker_traceback"] = report["traceback"]
        raise CheckFailed(f"{stage}: {why}", details)
    after = details.get("then_critic_evaluation", "ok")
    if after != "ok":  # the step passed; what a run does next did not: said, not buried
        warning = f"{stage}: critic evaluation after the step in the same process {after}"
        check.results.setdefault("warnings", []).append(warning)
        print(f"gpu-check: warning: {warning}", flush=True)
    return details


def prepared_as(details: dict[str, Any], kind: str) -> dict[str, Any] | None:
    """The first model the launched trainer prepared under `kind` (FSDP: as an FSDP2 module;
    DEEPSPEED: as a DeepSpeed engine), or None."""
    for seen in details.get("prepared", []):
        if seen["distributed_type"] == kind and (
            seen["fsdp2_module"] if kind == "FSDP" else seen["model_class"] == "DeepSpeedEngine"
        ):
            return seen
    return None


def not_prepared(details: dict[str, Any], wanted: str) -> str:
    """Why a sharded stage failed when accelerate quietly chose another wrapping: what it did
    prepare the model as, so the record names the fallback."""
    seen = (details.get("prepared") or [{}])[0]
    return (f"accelerate {versions()['accelerate']} did not apply {wanted}: the trainer's model "
            f"was prepared as {seen.get('model_class')} with distributed_type "
            f"{seen.get('distributed_type')} (backend {seen.get('backend')})")


def stage_act_zero3(check: Check) -> dict[str, Any]:
    """One ACT step under the shipped ZeRO-3 config; the model must become a DeepSpeed engine
    (a launch that trains without it would pass unnoticed otherwise)."""
    if importlib.util.find_spec("deepspeed") is None:
        raise Skip("DeepSpeed is not installed (pip install deepspeed; the offline bundle "
                   "builds it from its sdist)")
    # On a CPU DeepSpeed picks its CPU accelerator and gloo: the same launch, in fp32.
    details = launch_worker(check, "act_zero3", ["--mixed_precision", "no"] if check.cpu else [])
    if prepared_as(details, "DEEPSPEED") is None:
        raise CheckFailed(not_prepared(details, "DeepSpeed ZeRO-3"), details)
    return details


def stage_act_fsdp2(check: Check) -> dict[str, Any]:
    """One ACT step under the shipped FSDP config; the model must become an FSDP2 module. On a
    CPU accelerate does not apply FSDP: recorded as skipped, with what ran instead."""
    # The config asks for bf16 autocast on GPUs; on the CPU the run's dtype is fp32.
    details = launch_worker(check, "act_fsdp2", ["--mixed_precision", "no"] if check.cpu else [])
    if prepared_as(details, "FSDP") is not None:
        return details
    why = not_prepared(details, "FSDP2")
    if not check.cpu:
        raise CheckFailed(why, details)
    direct = details.get("torch_fully_shard_on_cpu", {})
    raise Skip(
        f"{why}: accelerate's state.py sets FSDP only for GPU-like distributed types, so a CPU "
        f"run stays MULTI_CPU and trains under DistributedDataParallel over gloo (that ACT "
        f"step ran and is in the details); torch's own fully_shard on the CPU with gloo: "
        f"{'works' if direct.get('ok') else direct.get('error', 'not tried')}", details)
