"""Multi-GPU settings checked on the CPU: the process group's timeout, what sharding refuses,
loading straight to a process's GPU, and LoRA checkpoints handed to TRL's colocated vLLM."""

import json
import shutil
import types
from pathlib import Path
from typing import Any

import pytest

from actrain.config.schema import load_config
from actrain.errors import ActrainError
from actrain.runtime import distributed


def test_the_process_group_timeout_comes_from_the_config(monkeypatch, tmp_path):
    made = []
    monkeypatch.setattr("accelerate.PartialState", lambda **kwargs: made.append(kwargs))
    monkeypatch.setenv("WORLD_SIZE", "2")
    try:
        distributed.init(5400)
        assert made[0]["timeout"].total_seconds() == 5400
        monkeypatch.delenv("WORLD_SIZE")  # the trainer's arguments, built in one process
        from actrain.stages.inputs import stage_inputs
        from actrain.stages.trl_args import trl_args

        config = load_config(None, ["device=cpu", "dtype=float32", "il.batch_size=2"])
        args = trl_args(stage_inputs(config, "il"), "il", str(tmp_path))
        assert args.ddp_timeout == 5400  # the trainers repeat it
    finally:
        distributed.init()
    assert load_config(None, []).collective_timeout == 3600


@pytest.mark.parametrize("env, expected", [
    ({}, None),
    ({"ACCELERATE_USE_FSDP": "true"}, "fsdp"),
    ({"ACCELERATE_USE_DEEPSPEED": "true", "ACCELERATE_DEEPSPEED_ZERO_STAGE": "3"}, "zero3"),
    ({"ACCELERATE_USE_DEEPSPEED": "true", "ACCELERATE_DEEPSPEED_ZERO_STAGE": "2"}, None),
])
def test_sharding_is_read_from_the_launcher(monkeypatch, env, expected):
    for name in ("ACCELERATE_USE_FSDP", "ACCELERATE_USE_DEEPSPEED",
                 "ACCELERATE_DEEPSPEED_ZERO_STAGE", "ACCELERATE_DEEPSPEED_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert distributed.sharding() == expected


def test_a_deepspeed_config_file_says_its_stage(monkeypatch, tmp_path):
    path = tmp_path / "ds.json"
    path.write_text(json.dumps({"zero_optimization": {"stage": 3}}))
    monkeypatch.delenv("ACCELERATE_DEEPSPEED_ZERO_STAGE", raising=False)
    monkeypatch.setenv("ACCELERATE_USE_DEEPSPEED", "true")
    monkeypatch.setenv("ACCELERATE_DEEPSPEED_CONFIG_FILE", str(path))
    assert distributed.sharding() == "zero3"


@pytest.mark.parametrize("launcher", [{"ACCELERATE_USE_FSDP": "true"},
                                      {"ACCELERATE_USE_DEEPSPEED": "true",
                                       "ACCELERATE_DEEPSPEED_ZERO_STAGE": "3"}])
def test_qlora_under_sharding_is_refused_before_the_run(monkeypatch, tmp_path, launcher):
    from actrain.run.preflight import check_sharding

    qlora = load_config(None, ["peft.enabled=true", "peft.load_in_4bit=true"])
    check_sharding(qlora)  # one process: QLoRA is fine
    for name, value in launcher.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ActrainError, match="QLoRA.*cannot train under") as caught:
        check_sharding(qlora)
    assert "\n" not in str(caught.value)
    check_sharding(load_config(None, ["peft.enabled=true"]))  # plain LoRA shards fine


class _LoadedModel:
    def __init__(self) -> None:
        self.moved_to: list[str] = []
        self.generation_config = types.SimpleNamespace()

    def to(self, device: str) -> "_LoadedModel":
        self.moved_to.append(device)
        return self


@pytest.mark.parametrize("sharded", [False, True])
def test_a_gpu_process_loads_straight_onto_its_gpu(monkeypatch, sharded):
    """Loading to host memory and then moving costs every process the whole model in RAM;
    under ZeRO-3 / FSDP the sharding places the weights, so no device_map."""
    from actrain.runtime import models

    seen: dict[str, Any] = {}

    def from_pretrained(path, **kwargs):
        seen.update(kwargs)
        return _LoadedModel()

    monkeypatch.setattr(models.AutoModelForCausalLM, "from_pretrained", from_pretrained)
    monkeypatch.setattr(models, "weight_dtype", lambda *args, **kwargs: "bf16")
    if sharded:
        monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")
    else:
        monkeypatch.delenv("ACCELERATE_USE_FSDP", raising=False)
    model, _ = models.load_model("tiny-random", "bfloat16", "cuda:3")
    if sharded:
        assert "device_map" not in seen and model.moved_to == ["cuda:3"]
    else:
        assert seen["device_map"] == {"": "cuda:3"} and model.moved_to == []


def test_a_colocated_vllm_stage_after_a_lora_stage_starts_from_full_weights(tmp_path, monkeypatch):
    """TRL's colocated engine loads `model.name_or_path`: after a LoRA stage (no merge) that
    must be a folder of full weights, not the adapter."""
    from peft import LoraConfig, get_peft_model

    from actrain.run.pipeline import Pipeline
    from actrain.runtime.models import load_model

    config = load_config(None, [
        f"runs_dir={tmp_path}", "name=r", "model=tiny-random", "dtype=float32", "device=cpu",
        "pipeline=act_rl", "env.id=twx/twc", "peft.enabled=true", "peft.r=4",
        "rl.grpo={use_vllm: true, vllm_mode: colocate}", "rl.max_steps=1",
        "rl.num_generations=2", "rl.prompts_per_step=2", "rollout.enabled=false",
    ])
    pipeline = Pipeline(config, ["act_rl"])
    seen: list[str] = []

    def train_stage(self, model, tokenizer, inputs, out):
        if out.name == "act":  # a LoRA stage: its checkpoint is an adapter
            lora = get_peft_model(model, LoraConfig(r=4, target_modules=["q_proj"]))
            lora.save_pretrained(out / "checkpoint")
            tokenizer.save_pretrained(out / "checkpoint")
        else:
            seen.append(model.name_or_path)
            shutil.copytree(seen[-1], out / "checkpoint")

    monkeypatch.setattr(Pipeline, "_train_stage", train_stage)
    monkeypatch.setattr(Pipeline, "write_card", lambda *args: None)
    pipeline.train(0, ("act",))
    pipeline.train(0, ("act", "rl"))
    assert (tmp_path / "r" / "seed0" / "act" / "checkpoint-full" / "config.json").exists()
    assert (tmp_path / "r" / "seed0" / "act" / "checkpoint" / "adapter_config.json").exists()
    full = seen[0]
    assert full.endswith("checkpoint-full") and (tmp_path / full / "config.json").exists()
    merged, _ = load_model(full)
    from_adapter, _ = load_model(str(tmp_path / "r" / "seed0" / "act" / "checkpoint"))
    assert merged.state_dict().keys() == from_adapter.state_dict().keys()


def test_a_batch_that_does_not_split_over_the_processes_names_the_values_that_do():
    """vLLM server mode takes one GPU of 8: 32 prompts a step over 7 training processes."""
    from actrain.stages.common import planned_world, split_batch

    with planned_world(7), pytest.raises(ActrainError) as caught:
        split_batch("act", 32 * 8, 4, unit=8)
    message = str(caught.value)
    assert "act.prompts_per_step to a multiple of 7 (28 or 35" in message
    assert "vllm_mode: server" in message and "\n" not in message
    with planned_world(7):
        assert split_batch("act", 28 * 8, 4, unit=8) == (4, 8)
    with planned_world(3), pytest.raises(ActrainError, match="il.batch_size to a multiple of 3 "
                                                              r"\(30 or 33"):
        split_batch("il", 32, 4)


def test_an_fp32_checkpoint_is_rewritten_in_bf16_at_half_the_size(tmp_path):
    """FSDP2 saves the fp32 copy it trains; the stage's checkpoint keeps bf16, as loaded."""
    import torch

    from actrain.runtime.models import checkpoint_to_bf16, load_model

    model, tokenizer = load_model("tiny-random")
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    before = sum(p.stat().st_size for p in tmp_path.glob("*.safetensors"))
    checkpoint_to_bf16(tmp_path)
    after = sum(p.stat().st_size for p in tmp_path.glob("*.safetensors"))
    assert after < 0.6 * before
    assert json.loads((tmp_path / "config.json").read_text())["dtype"] == "bfloat16"
    reloaded, _ = load_model(str(tmp_path))  # fp32 on a CPU: the bf16 values, widened
    weight = reloaded.model.layers[0].self_attn.q_proj.weight
    expected = model.model.layers[0].self_attn.q_proj.weight.to(torch.bfloat16)
    assert torch.equal(weight.to(torch.bfloat16), expected) and not torch.equal(
        weight, model.model.layers[0].self_attn.q_proj.weight)


@pytest.mark.parametrize("setting, plain", [
    ({}, True), ({"top_k": 20}, False), ({"top_p": 0.95}, False),
    ({"repetition_penalty": 1.1}, False), ({"generation_kwargs": {"no_repeat_ngram_size": 2}}, False),
])
def test_the_one_pass_sampler_runs_only_when_nothing_else_shapes_sampling(setting, plain):
    """A sampling setting the one-token sampler cannot honour sends generation to TRL."""
    from actrain.stages.one_prompt_pass import _plain_sampling

    args = types.SimpleNamespace(generation_kwargs=setting.get("generation_kwargs"))
    trainer = types.SimpleNamespace(
        use_vllm=False, top_p=setting.get("top_p", 1.0), top_k=setting.get("top_k", 0),
        min_p=None, repetition_penalty=setting.get("repetition_penalty", 1.0), temperature=1.0,
        args=args)
    assert _plain_sampling(trainer) is plain


def test_how_il_targets_think_keys_only_the_stages_that_read_it():
    """`data.il_thinking` changes reasoning IL rows only: the keys of every other stage and of
    rollouts stay what they were, so existing runs are not retrained for it."""
    from actrain.run.keys import RunKeys

    def keys(*overrides):
        config = load_config(None, ["model=tiny-random", *overrides])
        book = RunKeys(config)
        return {prefix: book.checkpoint_key(0, prefix) for prefix in [("il",), ("rl",), ("act",)]
                } | {"agent": book.agent_key(0, ("il",))}

    assert keys("data.il_thinking=none") == keys("data.il_thinking=empty")
    thinking = keys("data.actor_reasoning=true", "data.il_thinking=none")
    empty = keys("data.actor_reasoning=true", "data.il_thinking=empty")
    assert thinking[("il",)] != empty[("il",)]  # reasoning IL rows differ
    assert thinking[("rl",)] == empty[("rl",)] and thinking[("act",)] == empty[("act",)]


# Fingerprints of a default-config run as keyed before the sampling, pair-rule, precision and
# IL-thinking settings existed: a run made then must be found done, not retrained.
KEYS_OF_EARLIER_RUNS = {
    "collect": "ddc0ebaff28939b7", "pairs": "8b8e136b51c110d2", "il": "390588a13cab1d29",
    "act": "140e7072d622bf53", "act-il": "304a13655008b013", "il-rl": "66f11c225ab08c07",
    "sr": "5bd29d46f2c1368b", "critic act": "f0976adb9de17da2",
    "agent act-il": "13f1b78d389c9163", "agent il -cot": "62a18a4e72b9a4d3",
}


def test_settings_at_their_defaults_keep_the_keys_of_earlier_runs():
    from actrain.run.keys import RunKeys

    keys = RunKeys(load_config(None, []))
    now = {"collect": keys.data_key("collect"), "pairs": keys.data_key("pairs"),
           "critic act": keys.critic_key(0, ("act",)),
           "agent act-il": keys.agent_key(0, ("act", "il")),
           "agent il -cot": keys.agent_key(0, ("il",), True)}
    for prefix in [("il",), ("act",), ("act", "il"), ("il", "rl"), ("sr",)]:
        now["-".join(prefix)] = keys.checkpoint_key(0, prefix)
    assert now == KEYS_OF_EARLIER_RUNS


def test_act_trains_on_the_first_pairs_of_a_state_while_early_experience_sees_all(
        tmp_path, monkeypatch):
    """`alternatives.per_state: 3` gives Early Experience three alternatives a reflection;
    `act.pairs_per_state: 1` keeps ACT at the paper's one pair a state."""
    from helpers.pairs import make_pair

    from actrain.data.alternatives import first_pairs_per_state
    from actrain.records import Pair
    from actrain.run.pipeline import Pipeline
    from actrain.runtime.io import write_jsonl
    from actrain.stages import act
    from actrain.stages.inputs import stage_inputs

    pairs = [Pair.from_json({**make_pair(i % 2, True), "alternative": f"alt {i}"})
             for i in range(6)]
    assert [p.alternative for p in first_pairs_per_state(pairs, 1)] == ["alt 0", "alt 1"]
    assert first_pairs_per_state(pairs, 0) == pairs and len(first_pairs_per_state(pairs, 2)) == 4
    config = load_config(None, [f"runs_dir={tmp_path}", "name=r", "model=tiny-random",
                                "dtype=float32", "device=cpu", "act.pairs_per_state=1"])
    pipeline = Pipeline(config, ["act"])
    write_jsonl(pipeline.layout.train_pairs, pairs)
    write_jsonl(pipeline.layout.eval_pairs, pairs)
    seen = {}
    monkeypatch.setattr(act, "run_act", lambda model, tok, train, heldout, inputs, out, hard:
                        seen.update(train=train, heldout=heldout, hard=hard))
    pipeline._train_stage(None, None, stage_inputs(config, "act"), tmp_path)
    assert [p.alternative for p in seen["train"]] == ["alt 0", "alt 1"]
    assert len(seen["heldout"]) == 6  # the critic is measured on every held-out pair


@pytest.mark.parametrize("launch", [{}, {"WORLD_SIZE": "8"}])  # 1 GPU, DDP
def test_8b_full_fine_tuning_on_one_80gb_gpu_is_refused_before_the_run(monkeypatch, launch):
    # it OOMed at ACT's first step, after days of collection and pairs on one GPU
    import dataclasses
    import tempfile

    from actrain.run.preflight import check_training_memory
    from actrain.stages.inputs import stage_inputs
    from actrain.stages.trl_args import trl_args

    for key in ("ACCELERATE_USE_DEEPSPEED", "ACCELERATE_USE_FSDP", "WORLD_SIZE"):
        monkeypatch.delenv(key, raising=False)
    path = str(Path(__file__).parents[1] / "configs" / "alfworld-qwen3-8b.yaml")
    config = load_config(path, [])
    with tempfile.TemporaryDirectory() as tmp:  # each stage's TRL arguments, as check_run's
        stages = {name: trl_args(stage_inputs(dataclasses.replace(config, device="cpu"), name),
                                 name, tmp) for name in ("act", "il", "rl")}
    for key, value in launch.items():  # the launch the check then sees
        monkeypatch.setenv(key, value)
    with pytest.raises(ActrainError, match=r"needs at least 122 GiB a GPU.*colocated vLLM.*"
                                           r"this GPU has 80 GiB: launch with ZeRO-3"):
        check_training_memory(config, stages, gpu_gib=80)
    check_training_memory(config, stages, gpu_gib=200)  # a GPU it fits
    check_training_memory(load_config(path, ["peft.enabled=true"]),
                          stages, gpu_gib=80)  # LoRA trains 16 bytes of the adapters only
    check_training_memory(config, {}, gpu_gib=80)  # nothing trained (the `prompt` method)
    monkeypatch.setenv("ACCELERATE_USE_DEEPSPEED", "true")
    monkeypatch.setenv("ACCELERATE_DEEPSPEED_ZERO_STAGE", "3")
    check_training_memory(config, stages, gpu_gib=80)  # sharded: ZeRO-3 splits the states
