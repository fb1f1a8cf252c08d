"""DeepSpeed ZeRO-3 for real (`actrain[deepspeed]`, DeepSpeed's CPU accelerator over gloo):
ACT -> IL -> RL, and a LoRA stage, under `accelerate launch` with 2 processes and the shipped
`configs/accelerate/zero3-cpu.yaml`, on the tiny model.

What they show: accelerate prepared every trained model as a ZeRO-3 engine; each stage's saved
weights differ from the weights it started from and reload whole with `from_pretrained`; a LoRA
adapter trained under ZeRO-3 and merged gives the logits of the same adapter applied at run
time; and the models loaded for evaluation after training were loaded whole, with no ZeRO-3
config alive (under one they would arrive as empty partitions with no engine to gather them).
Without DeepSpeed these tests are skipped, except under CI, where that is a failure.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers.launch import free_port, launch_env

ROOT = Path(__file__).parents[1]
HELPER = ROOT / "tests" / "helpers" / "zero3_pipeline.py"
HAVE_DEEPSPEED = importlib.util.find_spec("deepspeed") is not None

if not HAVE_DEEPSPEED and os.environ.get("CI"):
    raise RuntimeError("CI runs real ZeRO-3: `make test` installs actrain[deepspeed]")
pytestmark = pytest.mark.skipif(not HAVE_DEEPSPEED,
                                reason="needs DeepSpeed: pip install 'actrain[deepspeed]'")
pytest.importorskip("textworld_express")


def launch(runs: Path, pipeline: str, *extra: str) -> list[dict]:
    """The helper under `accelerate launch` with ZeRO-3 on 2 CPU processes; each rank's JSON."""
    done = subprocess.run(
        [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
         str(ROOT / "configs" / "accelerate" / "zero3-cpu.yaml"), "--main_process_port",
         str(free_port()), str(HELPER), str(runs), pipeline, *extra],
        env=launch_env(), capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    return [json.loads((runs / f"rank-{r}.json").read_text()) for r in range(2)]


@pytest.fixture(scope="module")
def full(tmp_path_factory) -> tuple[Path, list[dict]]:
    runs = tmp_path_factory.mktemp("zero3-full")
    return runs / "r" / "seed0", launch(runs, "act_il_rl")


@pytest.fixture(scope="module")
def lora(tmp_path_factory) -> tuple[Path, list[dict]]:
    runs = tmp_path_factory.mktemp("zero3-lora")
    return runs / "r" / "seed0", launch(runs, "il", "peft.enabled=true", "peft.merge=true",
                                        "peft.r=4")


def weights(folder: str | Path) -> dict[str, torch.Tensor]:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    return {k: v.detach() for k, v in model.named_parameters()}


def test_every_stage_trained_as_a_zero3_engine_on_both_processes(full):
    _, ranks = full
    for rank in ranks:
        assert rank["prepared"] == [{"distributed_type": "DEEPSPEED", "zero_stage": 3,
                                     "backend": "gloo"}] * 3  # ACT, IL, RL
        trained = [load for load in rank["loads"] if load["for_training"]]
        # the trainers' models were built partitioned (zero.Init), not whole on each process
        assert len(trained) == 3 and all(load["zero3_alive"] and load["partitioned"]
                                         for load in trained)


def test_each_stage_s_checkpoint_reloads_whole_and_differs_from_its_start(full):
    from actrain.runtime.models import resolve_model_path

    seed, _ = full
    start = weights(resolve_model_path("tiny-random"))
    for stage in ("act", "act-il", "act-il-rl"):
        saved = weights(seed / stage / "checkpoint")
        assert {k: v.shape for k, v in saved.items()} == {k: v.shape for k, v in start.items()}
        moved = [k for k in start if not torch.equal(start[k], saved[k])]
        # a random model's GRPO groups are flat (zero gradient): weight decay moves ACT and RL
        assert "model.layers.0.mlp.down_proj.weight" in moved, stage
        start = saved


def test_evaluation_after_training_loads_whole_models_outside_zero3(full):
    seed, ranks = full
    for rank in ranks:
        loads = rank["loads"]
        last_training = max(i for i, load in enumerate(loads) if load["for_training"])
        evaluations = [load for load in loads[last_training + 1:]]
        assert any(load["name"] == str(seed / "act" / "checkpoint") for load in evaluations)
        assert all(not load["zero3_alive"] and load["partitioned"] == load["empty"] == 0
                   for load in evaluations)
    assert (seed.parent / "critic" / "seed0-act.json").exists()


def test_a_lora_adapter_trained_under_zero3_merges_to_the_adapter_s_own_logits(lora):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from actrain.runtime.models import resolve_model_path

    seed, ranks = lora
    assert ranks[0]["prepared"][0]["zero_stage"] == 3
    checkpoint = seed / "il" / "checkpoint"
    ids = torch.arange(1, 24)[None]
    base = AutoModelForCausalLM.from_pretrained(resolve_model_path("tiny-random"),
                                                dtype=torch.float32)
    with torch.no_grad():
        base_logits = base(ids).logits
        at_run_time = PeftModel.from_pretrained(base, checkpoint / "adapter")(ids).logits
        merged = AutoModelForCausalLM.from_pretrained(checkpoint, dtype=torch.float32)(ids).logits
    assert (at_run_time - base_logits).abs().max() > 1e-3  # the adapter learnt something
    assert torch.allclose(merged, at_run_time, atol=1e-5)
