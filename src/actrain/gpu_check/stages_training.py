"""The training stages on one device: the whole pipeline (collect, pairs, ACT, IL, RL, critic
evaluation, report) with memory per step, and IL with a LoRA adapter merged into the weights."""

from __future__ import annotations

import contextlib
import gc
import importlib.util
import json
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest.mock import patch

from actrain.gpu_check.corridor import Corridor
from actrain.gpu_check.memory import peak_memory
from actrain.gpu_check.outcomes import require
from actrain.gpu_check.runner import Check
from actrain.gpu_check.settings import PROMPT
from actrain.gpu_check.tiny_pipeline import chooser_model, pipeline_overrides, training_log
from actrain.gpu_check.weights import moved


@contextlib.contextmanager
def step_memory(cuda: bool, steps: list[dict[str, Any]]) -> Iterator[None]:
    """Record each pipeline step's seconds and memory (`RunContext.run_step` wrapped for the time
    of the stage): what a cached base model or a retained trainer holds shows here."""
    import torch

    from actrain.run.context import RunContext

    real = RunContext.run_step

    def run(self: Any, step: str, key: str, outputs: list[Path], work: Callable[[], None]) -> None:
        start = time.time()
        real(self, step, key, outputs, work)
        gc.collect()
        row: dict[str, Any] = {"step": step, "seconds": round(time.time() - start, 1)}
        if cuda:
            torch.cuda.synchronize()
            row.update(allocated_mib=round(torch.cuda.memory_allocated() / 2**20, 1),
                       peak_mib=round(torch.cuda.max_memory_allocated() / 2**20, 1))
        else:
            row["peak_rss_mib"] = peak_memory(False)["peak_memory_mib"]
        steps.append(row)

    with patch.object(RunContext, "run_step", run):
        yield


def stage_pipeline(check: Check) -> dict[str, Any]:
    """The whole pipeline on one device: collect, pairs, pair-group GRPO ACT, IL, RL, critic
    evaluation and report; each training stage's checkpoint must differ from its input."""
    from actrain.config.schema import load_config
    from actrain.run.pipeline import Pipeline

    chooser = chooser_model(check.work)
    shutil.rmtree(check.work / "runs" / "pipeline", ignore_errors=True)  # a fresh run, no reuse
    config = load_config(None, pipeline_overrides(check.work, "pipeline", chooser, check.device,
                                                  check.dtype, "act_il_rl", 2))
    pipeline = Pipeline(config, methods=["act_il_rl"])
    steps: list[dict[str, Any]] = []
    details: dict[str, Any] = {"run": str(pipeline.layout.dir), "steps": steps}
    plots = importlib.util.find_spec("matplotlib") is not None
    with step_memory(check.cuda, steps):
        if plots:
            pipeline.run()
        else:  # the report draws plots: without matplotlib, train and evaluate only
            pipeline.run(until="train")
            pipeline.evaluate(0, "act_il_rl")
    previous: Path | str = chooser
    stuck = []
    for prefix in (("act",), ("act", "il"), ("act", "il", "rl")):
        stage = prefix[-1]
        checkpoint = Path(pipeline.layout.checkpoint(0, prefix))
        details[stage] = {"moved": moved(previous, checkpoint),
                          **training_log(pipeline.layout.stage_dir(0, prefix))}
        if not details[stage]["moved"]["tensors_changed"]:
            stuck.append(stage)
        previous = checkpoint
    critic = pipeline.layout.critic_file("base").parent
    details["critic"] = {p.stem: json.loads(p.read_text()).get("balanced_accuracy")
                         for p in sorted(critic.glob("*.json"))}
    details["report"] = (pipeline.layout.report_file.exists() if plots
                         else "not written: matplotlib is not installed (the report's plots)")
    require(not stuck, f"the weights did not move in {stuck}")
    require(details["report"] is not False, "the pipeline wrote no report.md")
    # the base model and the ACT checkpoint, each on the held-out pairs and on the hard set
    require(len(details["critic"]) == 4, f"critic results: {sorted(details['critic'])}")
    return details


def stage_lora_merge(check: Check) -> dict[str, Any]:
    """IL with a LoRA adapter and `peft.merge`: full weights and the adapter are saved, the
    merged checkpoint loads as a plain model, differs from the base, and equals the adapter
    merged at load time."""
    import torch

    from actrain.config.schema import load_config
    from actrain.runtime.models import load_model, resolve_model_path
    from actrain.stages.il import run_il
    from actrain.stages.inputs import stage_inputs

    env = Corridor()
    trajectories = []
    for i in range(3):
        first = env.reset(f"train:{i}")
        trajectories.append({
            "task": f"train:{i}", "task_description": "Reach the end.", "won": True,
            "score": 1.0, "steps": [{"observation": first.observation,
                                     "admissible": env.admissible_actions(),
                                     "expert_action": "go forward"}]})
    config = load_config(None, [
        "model=tiny-random", f"device={check.device}", f"dtype={check.dtype}",
        "peft.enabled=true", "peft.merge=true", "peft.r=4", "peft.alpha=8", "il.max_steps=2",
        "il.batch_size=2", "il.learning_rate=1e-2"])
    model, tokenizer = load_model("tiny-random", check.dtype, check.device)
    out = check.work / "lora"
    shutil.rmtree(out, ignore_errors=True)
    checkpoint = run_il(model, tokenizer, trajectories, stage_inputs(config, "il"), out)
    del model
    require((checkpoint / "adapter" / "adapter_config.json").exists(),
            f"no adapter saved in {checkpoint / 'adapter'}")
    details: dict[str, Any] = {"checkpoint": str(checkpoint),
                               "moved": moved(resolve_model_path("tiny-random"), checkpoint),
                               **training_log(out)}
    merged, _ = load_model(str(checkpoint), check.dtype, check.device)
    from_adapter, _ = load_model(str(checkpoint / "adapter"), check.dtype, check.device)
    details["merged_class"] = type(merged).__name__
    require(not hasattr(merged, "peft_config"), "the merged checkpoint loaded as a PEFT model")
    gaps = [float((a.float() - b.float()).abs().max())
            for a, b in zip(merged.state_dict().values(), from_adapter.state_dict().values(),
                            strict=True)]
    details["merged_vs_adapter_max_gap"] = max(gaps)
    require(details["moved"]["tensors_changed"] > 0, "merging the adapter changed no weight")
    limit = 1e-5 if check.cpu else 2e-2
    require(max(gaps) <= limit, f"merged weights differ from base + adapter by {max(gaps)}")
    with torch.no_grad():  # the merged model computes: one forward on the device
        ids = tokenizer(PROMPT, return_tensors="pt", add_special_tokens=False)["input_ids"]
        logits = merged(input_ids=ids.to(check.device)).logits
    require(bool(torch.isfinite(logits).all()), "the merged model's logits are not finite")
    return details
