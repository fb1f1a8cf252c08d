"""The launched side of the ZeRO-3 and FSDP2 stages: inside `accelerate launch`, one ACT step
through the pipeline, how accelerate prepared the model, and a JSON result for the parent.
Reached as `python -m actrain.gpu_check --worker STAGE ...`."""

from __future__ import annotations

import contextlib
import json
import os
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest.mock import patch

from actrain.gpu_check.memory import peak_memory, reset_peak
from actrain.gpu_check.outcomes import require
from actrain.gpu_check.settings import LEARNING_RATE
from actrain.gpu_check.tiny_pipeline import chooser_model, pipeline_overrides, training_log
from actrain.gpu_check.weights import moved


@contextlib.contextmanager
def watch_prepare(seen: list[dict[str, Any]]) -> Iterator[None]:
    """Record how accelerate prepares each model (the trainers' `Accelerator.prepare`): the
    distributed type it chose and what it wrapped the model in. accelerate can fall back
    quietly (FSDP on a CPU becomes DDP); only this shows it."""
    import torch
    from accelerate import Accelerator

    try:
        from torch.distributed.fsdp import FSDPModule
    except ImportError:  # torch < 2.6: no FSDP2
        FSDPModule = ()  # noqa: N806 - isinstance(x, ()) is False

    real = Accelerator.prepare

    def prepare(self: Any, *args: Any, **kwargs: Any) -> Any:
        out = real(self, *args, **kwargs)
        if args and isinstance(args[0], torch.nn.Module):
            model = out[0] if isinstance(out, tuple) else out
            kind = self.distributed_type
            seen.append({"distributed_type": getattr(kind, "value", str(kind)),
                         "backend": self.state.backend, "mixed_precision": self.mixed_precision,
                         "model_class": type(model).__name__,
                         "fsdp2_module": isinstance(model, FSDPModule)})
        return out

    with patch.object(Accelerator, "prepare", prepare):
        yield


def fully_shard_step(model_dir: Path) -> dict[str, Any]:
    """One optimizer step of the tiny model under torch's own FSDP2 (`fully_shard`) on the CPU,
    in this launched process's gloo group: whether torch allows what accelerate does not."""
    import torch
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard
    from transformers import AutoModelForCausalLM

    if not dist.is_initialized():
        dist.init_process_group("gloo")
    mesh = init_device_mesh("cpu", (dist.get_world_size(),))
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    weight = model.model.layers[0].mlp.down_proj.weight
    before = weight.detach().clone()
    for layer in model.model.layers:
        fully_shard(layer, mesh=mesh)
    fully_shard(model, mesh=mesh)
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE)
    ids = torch.arange(1, 17)[None]
    loss = model(input_ids=ids, labels=ids).loss
    loss.backward()
    optimizer.step()
    sharded = model.model.layers[0].mlp.down_proj.weight
    after = sharded.full_tensor().detach()
    return {"ok": True, "backend": dist.get_backend(), "parameter_type": type(sharded).__name__,
            "loss": round(float(loss), 4), "weights_changed": bool((after != before).any())}


def worker(stage: str, work: Path, result: Path, cpu: bool) -> int:
    """Run one ACT step through the pipeline in this (launched) process and write its result;
    then, as a run would, evaluate the checkpoint in the same process."""
    report: dict[str, Any] = {"ok": False}
    reset_peak(not cpu)
    try:
        report["details"] = worker_act(stage, work, cpu)
        report["ok"] = True
    except BaseException as exc:  # noqa: BLE001 - the parent records every failure
        report.update(error=f"{type(exc).__name__}: {exc}"[:2000],
                      traceback=traceback.format_exc()[-3000:])
    report["peak"] = peak_memory(not cpu)
    if int(os.environ.get("RANK", "0")) == 0:
        result.write_text(json.dumps(report, indent=1, default=str))
    return 0 if report["ok"] else 1


def worker_act(stage: str, work: Path, cpu: bool) -> dict[str, Any]:
    """The ACT step under the launch, with how accelerate prepared the model; then the
    checkpoint: that it moved, reloads, and that the critic evaluation after it runs."""
    from actrain.config.schema import load_config
    from actrain.run.pipeline import Pipeline
    from actrain.runtime import distributed
    from actrain.runtime.device import resolve_device
    from actrain.runtime.models import load_model

    chooser = chooser_model(work)
    device, dtype = ("cpu", "float32") if cpu else (resolve_device("auto"), "bfloat16")
    config = load_config(None, pipeline_overrides(work, stage, chooser, device, dtype, "act", 1))
    pipeline = Pipeline(config, methods=["act"])
    prepared: list[dict[str, Any]] = []
    details: dict[str, Any] = {"sharding": distributed.sharding(), "device": device,
                               "world_size": os.environ.get("WORLD_SIZE"), "prepared": prepared}
    with watch_prepare(prepared):
        pipeline.run(until="train")
    if cpu and stage == "act_fsdp2" and not any(p["fsdp2_module"] for p in prepared):
        try:  # accelerate fell back: does torch itself shard on the CPU?
            details["torch_fully_shard_on_cpu"] = fully_shard_step(chooser)
        except Exception as exc:  # noqa: BLE001 - the exact refusal is the finding
            details["torch_fully_shard_on_cpu"] = {"ok": False,
                                                   "error": f"{type(exc).__name__}: {exc}"[:1000]}
    checkpoint = Path(pipeline.layout.checkpoint(0, ("act",)))
    details["moved"] = moved(chooser, checkpoint)
    details.update(training_log(pipeline.layout.stage_dir(0, ("act",))))
    details["config_dtype_saved"] = json.loads((checkpoint / "config.json").read_text()).get(
        "dtype")
    reloaded, _ = load_model(str(checkpoint), "float32", "cpu")
    details["reloaded"] = type(reloaded).__name__
    del reloaded
    require(details["moved"]["tensors_changed"] > 0, "the ACT step changed no weight")
    try:  # what a run does next in the same process: evaluate the trained critic
        pipeline.evaluate_critic(0, ("act",))
        details["then_critic_evaluation"] = "ok"
    except Exception as exc:  # noqa: BLE001 - recorded beside the step, which did pass
        details["then_critic_evaluation"] = f"failed: {type(exc).__name__}: {exc}"[:1000]
    return details
