"""LoRA through PEFT for ACT, IL and RL on the tiny model: adapters saved, chained stage after
stage, merged on request, and loadable by evaluation as plain models."""

import json

import pytest
import torch
from helpers.pairs import make_pair
from helpers.trajectories import SHIRT_TRAJECTORIES

from actrain.config.schema import load_config
from actrain.errors import ActrainError
from actrain.eval.critic import evaluate_critic
from actrain.runtime.models import load_model
from actrain.stages.act import run_act
from actrain.stages.il import run_il
from actrain.stages.inputs import stage_inputs
from actrain.stages.rl import run_rl

LORA = ["model=tiny-random", "dtype=float32", "peft.enabled=true", "peft.r=4", "peft.alpha=8"]
PAIRS = [make_pair(i, i % 2 == 0) for i in range(4)]


def _weight(model) -> torch.Tensor:
    return model.model.layers[0].self_attn.q_proj.weight.detach().clone()


@pytest.fixture(scope="module")
def chooser(tmp_path_factory) -> str:
    """The tiny model, made to answer "1" or "2" at random (a random model never does, and
    GRPO then has no reward variance to learn from), as the GPU check builds it."""
    from actrain.gpu_check.tiny_pipeline import chooser_model

    return str(chooser_model(tmp_path_factory.mktemp("chooser")))


@pytest.fixture(scope="module")
def act_adapter(chooser, tmp_path_factory):
    """Two pair-group GRPO steps of ACT with LoRA; the stage's checkpoint folder."""
    out = tmp_path_factory.mktemp("act")
    config = load_config(None, [*LORA, "act.max_steps=2", "act.num_generations=4",
                                "act.prompts_per_step=2", "act.learning_rate=1e-2",
                                "critic.max_new_tokens=1"])
    model, tokenizer = load_model(chooser)
    run_act(model, tokenizer, PAIRS, PAIRS[:2], stage_inputs(config, "act"), out)
    steps = [h for h in json.loads((out / "log_history.json").read_text()) if "reward" in h]
    assert any(h["grad_norm"] > 0 for h in steps)  # the choices varied: a real gradient
    return out / "checkpoint"


def test_act_with_lora_saves_an_adapter_that_evaluation_loads(act_adapter):
    assert (act_adapter / "adapter_config.json").exists()
    assert not (act_adapter / "config.json").exists()  # an adapter, not a full copy
    base, _ = load_model(json.loads((act_adapter / "adapter_config.json").read_text())[
        "base_model_name_or_path"])
    model, tokenizer = load_model(str(act_adapter))
    assert type(model).__name__ == "LlamaForCausalLM"  # merged: callers see a plain model
    assert not torch.equal(_weight(model), _weight(base))  # the adapter changed something
    config = load_config(None, ["critic.max_new_tokens=1"])
    metrics, _ = evaluate_critic(model, tokenizer, PAIRS, config.critic, config.eval)
    assert metrics["pairs"] == 4 and metrics["format_failure_rate"] is not None


def test_il_after_act_trains_a_new_adapter_on_the_act_weights(act_adapter, tmp_path):
    model, tokenizer = load_model(str(act_adapter))
    act_weight = _weight(model)
    config = load_config(None, [*LORA, "il.max_steps=2", "il.batch_size=2",
                                "il.learning_rate=1e-2"])
    checkpoint = run_il(model, tokenizer, SHIRT_TRAJECTORIES, stage_inputs(config, "il"), tmp_path)
    adapter = json.loads((checkpoint / "adapter_config.json").read_text())
    assert adapter["base_model_name_or_path"] == str(act_adapter.resolve())
    chained, _ = load_model(str(checkpoint))  # base -> ACT adapter -> IL adapter
    base, _ = load_model(json.loads((act_adapter / "adapter_config.json").read_text())[
        "base_model_name_or_path"])
    assert not torch.equal(_weight(chained), act_weight)
    assert not torch.equal(_weight(chained), _weight(base))


def test_rl_with_merge_saves_full_weights_and_the_adapter(tmp_path):
    model, tokenizer = load_model("tiny-random")
    config = load_config(None, [*LORA, "peft.merge=true", "rl.max_steps=2",
                                "rl.num_generations=2", "rl.prompts_per_step=2",
                                "rl.max_new_tokens=4", "rl.learning_rate=1e-2"])
    checkpoint = run_rl(model, tokenizer, SHIRT_TRAJECTORIES, stage_inputs(config, "rl"), tmp_path)
    assert (checkpoint / "config.json").exists() and list(checkpoint.glob("*.safetensors"))
    assert (checkpoint / "adapter" / "adapter_config.json").exists()
    merged, _ = load_model(str(checkpoint))
    from_adapter, _ = load_model(str(checkpoint / "adapter"))
    assert torch.allclose(_weight(merged), _weight(from_adapter), atol=1e-6)


def test_merge_reads_the_saved_adapter_not_the_sharded_model_in_memory(tmp_path, monkeypatch):
    """Under ZeRO-3 each process holds an empty partition of every base weight, under FSDP2 a
    shard: emulated here by emptying the in-memory base weights when the trainer unwraps the
    model. The merged checkpoint must still equal the base with the saved adapter on it."""
    from accelerate import Accelerator

    from actrain.stages import common

    real_unwrap, real_length, trained = Accelerator.unwrap_model, common.stage_length, []

    def length_after_training(trainer):  # train_and_save measures the stage once it trained
        trained.append(True)
        return real_length(trainer)

    def partitioned(self, model, *args, **kwargs):
        unwrapped = real_unwrap(self, model, *args, **kwargs)
        for name, param in unwrapped.named_parameters() if trained else ():
            if "lora_" not in name:
                param.data = torch.empty(0, dtype=param.dtype)
        return unwrapped

    monkeypatch.setattr(common, "stage_length", length_after_training)
    monkeypatch.setattr(Accelerator, "unwrap_model", partitioned)
    model, tokenizer = load_model("tiny-random")
    config = load_config(None, [*LORA, "peft.merge=true", "rl.max_steps=1",
                                "rl.num_generations=2", "rl.prompts_per_step=2",
                                "rl.max_new_tokens=4", "rl.learning_rate=1e-2"])
    checkpoint = run_rl(model, tokenizer, SHIRT_TRAJECTORIES, stage_inputs(config, "rl"), tmp_path)
    merged, _ = load_model(str(checkpoint))
    from_adapter, _ = load_model(str(checkpoint / "adapter"))
    assert _weight(merged).shape == (64, 64)
    assert torch.allclose(_weight(merged), _weight(from_adapter), atol=1e-6)


def test_lora_settings_are_checked_and_qlora_needs_a_gpu(monkeypatch):
    with pytest.raises(ActrainError, match="peft: r must be >= 1"):
        load_config(None, ["peft.r=0"])
    if torch.cuda.is_available():
        pytest.skip("a GPU is visible: the CPU refusal does not apply")
    with pytest.raises(ActrainError, match="needs a CUDA GPU"):
        load_model("tiny-random", load_in_4bit=True)
