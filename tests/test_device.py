"""One decision for device and dtype: what `auto` picks, what is refused, and that every model
load, generation and trainer follows it. The GPU test runs wherever torch sees a CUDA device."""

import pytest
import torch

from actrain.config.schema import load_config
from actrain.errors import ActrainError
from actrain.runtime import device as dev
from actrain.runtime.generation import continuation_logprobs, generate
from actrain.runtime.models import load_model
from actrain.stages.common import trainer_defaults
from actrain.stages.inputs import stage_inputs

GPU = torch.cuda.is_available()


def fake_gpus(monkeypatch, count: int) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: count > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)


def test_auto_device_is_the_cpu_without_a_gpu_and_the_rank_s_gpu_with_them(monkeypatch):
    fake_gpus(monkeypatch, 0)
    assert dev.resolve_device("auto") == "cpu"
    fake_gpus(monkeypatch, 2)
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    assert dev.resolve_device("auto") == "cuda:0"
    monkeypatch.setenv("LOCAL_RANK", "1")  # as under `accelerate launch`
    assert dev.resolve_device("auto") == "cuda:1"
    assert dev.resolve_device("cuda") == "cuda:0"
    assert dev.resolve_device("cpu") == "cpu"


def test_impossible_devices_are_one_clear_error(monkeypatch):
    fake_gpus(monkeypatch, 0)
    with pytest.raises(ActrainError, match="no CUDA GPU"):
        dev.resolve_device("cuda")
    fake_gpus(monkeypatch, 1)
    with pytest.raises(ActrainError, match="only 1 GPU"):
        dev.resolve_device("cuda:3")
    with pytest.raises(ActrainError, match="unknown device 'tpu'"):
        dev.resolve_device("tpu")


def test_auto_dtype_follows_the_device_and_the_cpu_s_bf16(monkeypatch):
    monkeypatch.setattr(dev, "cpu_has_fast_bf16", lambda: True)
    assert dev.resolve_dtype("auto", "cpu") == "bfloat16"
    monkeypatch.setattr(dev, "cpu_has_fast_bf16", lambda: False)
    assert dev.resolve_dtype("auto", "cpu") == "float32"
    assert dev.resolve_dtype("auto", "cuda:0") == "bfloat16"
    assert dev.resolve_dtype("float16", "cpu") == "float16"
    with pytest.raises(ActrainError, match="unknown dtype 'float8'"):
        dev.resolve_dtype("float8", "cpu")


def test_weights_are_fp32_on_the_cpu_and_in_the_compute_dtype_on_a_gpu():
    assert dev.weight_dtype("bfloat16", "cpu") == torch.float32
    assert dev.weight_dtype("bfloat16", "cuda:0") == torch.bfloat16
    assert dev.weight_dtype("float32", "cuda:1") == torch.float32


def test_weights_an_optimizer_updates_in_place_are_fp32_on_a_gpu_too():
    """bf16 would round away AdamW's steps of about lr (tests/test_mixed_precision.py)."""
    assert dev.weight_dtype("bfloat16", "cuda:0", updated_in_place=True) == torch.float32
    assert dev.weight_dtype("float16", "cuda:0", updated_in_place=True) == torch.float32
    assert dev.weight_dtype("bfloat16", "cpu", updated_in_place=True) == torch.float32


def test_cpu_autocast_computes_in_the_asked_dtype():
    a = torch.ones(4, 4)
    with dev.autocast("bfloat16", "cpu"):
        assert (a @ a).dtype == torch.bfloat16
    with dev.autocast("float32", torch.device("cpu")):
        assert (a @ a).dtype == torch.float32


def test_trainers_run_where_the_config_says(tmp_path):
    config = load_config(None, ["device=cpu", "dtype=bfloat16"])
    args = trainer_defaults(tmp_path, stage_inputs(config, "il").trainer, 5, 1e-5, 0)
    assert args["use_cpu"] is True and args["bf16"] is True
    config = load_config(None, ["device=cuda:0", "dtype=float32"])
    args = trainer_defaults(tmp_path, stage_inputs(config, "il").trainer, 5, 1e-5, 0)
    assert args["use_cpu"] is False and args["bf16"] is False


def test_pipeline_resolves_device_and_dtype_once(tmp_path, monkeypatch):
    from actrain.run.pipeline import Pipeline

    fake_gpus(monkeypatch, 0)
    monkeypatch.setattr(dev, "cpu_has_fast_bf16", lambda: False)
    config = load_config(None, [f"runs_dir={tmp_path}", "model=tiny-random"])
    pipeline = Pipeline(config)
    assert (pipeline.config.device, pipeline.config.dtype) == ("cpu", "float32")
    model, _ = pipeline.base_model()
    assert next(model.parameters()).device.type == "cpu"


@pytest.mark.skipif(not GPU, reason="needs a CUDA GPU (torch.cuda.is_available() is False here)")
def test_models_and_generation_run_on_the_gpu():
    model, tokenizer = load_model("tiny-random", "bfloat16", "cuda:0")
    assert {p.device.type for p in model.parameters()} == {"cuda"}
    assert next(model.parameters()).dtype == torch.bfloat16
    out = generate(model, tokenizer, ["hello", "a longer prompt"], max_new_tokens=4,
                   temperature=0, autocast="bfloat16", progress=False)
    cpu_model, _ = load_model("tiny-random", "float32", "cpu")
    assert len(out) == 2
    gpu_scores = continuation_logprobs(model, tokenizer, "hello", [" a", " b c"], "bfloat16")
    cpu_scores = continuation_logprobs(cpu_model, tokenizer, "hello", [" a", " b c"])
    assert gpu_scores == pytest.approx(cpu_scores, abs=0.1)
