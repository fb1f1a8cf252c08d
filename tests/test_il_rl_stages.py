"""IL (TRL SFTTrainer) and RL (TRL GRPOTrainer on next actions) on the tiny model, 2 steps each."""

import pytest

from actrain.config import load_config
from actrain.errors import ActrainError
from actrain.io import read_json
from actrain.methods import stage_inputs
from actrain.stages.il import il_dataset, run_il, sft_config
from actrain.stages.rl import rl_dataset, run_rl

TRAJECTORIES = [
    {
        "task": f"train:{i}", "task_description": "Put the shirt away.", "won": True,
        "score": 1.0,
        "steps": [
            {"observation": "You are in the bedroom. You see a shirt.",
             "admissible": ["inventory", "take shirt"], "expert_action": "take shirt"},
            {"observation": "You take the shirt.",
             "admissible": ["inventory", "open wardrobe", "put shirt on bed"],
             "expert_action": "open wardrobe"},
        ],
    }
    for i in range(3)
]


def _config(*extra):
    return load_config(None, ["model=tiny-random", "dtype=float32", *extra])


def test_il_examples_are_agent_prompts_with_the_expert_action_as_completion(tokenizer):
    ds = il_dataset(tokenizer, TRAJECTORIES, stage_inputs(_config(), "il").view)
    assert len(ds) == 6 and set(ds.column_names) == {"prompt", "completion"}
    assert ds[0]["prompt"].endswith("<action>")  # the tag is prefilled: same as rollouts
    assert ds[0]["completion"] == "take shirt</action>"
    assert "Recent steps" in ds[1]["prompt"] and "take shirt" in ds[1]["prompt"]
    reasoning = il_dataset(tokenizer, TRAJECTORIES,
                           stage_inputs(_config("data.actor_reasoning=true"), "il").view)
    assert reasoning[0]["completion"] == "<action>take shirt</action>"


def test_il_config_trains_on_the_completion_only_and_rejects_unknown_keys(tmp_path):
    args = sft_config(stage_inputs(_config("il.max_steps=3"), "il"), tmp_path)
    assert args.completion_only_loss is True and args.max_steps == 3
    with pytest.raises(ActrainError, match="il.sft"):
        sft_config(stage_inputs(_config("il.sft={no_such_option: 1}"), "il"), tmp_path)
    with pytest.raises(ActrainError, match="il.sft.num_train_epochs would override il.epochs"):
        sft_config(stage_inputs(_config("il.sft={num_train_epochs: 3}"), "il"), tmp_path)


def test_two_il_steps_on_tiny_model(tiny_model, tmp_path):
    from actrain.models import load_model

    model, tokenizer = load_model("tiny-random")  # a fresh copy: training changes it
    config = _config("il.max_steps=2", "il.batch_size=2")
    checkpoint = run_il(model, tokenizer, TRAJECTORIES, stage_inputs(config, "il"), tmp_path)
    assert (checkpoint / "config.json").exists() and list(checkpoint.glob("*.safetensors"))
    steps = [h for h in read_json(tmp_path / "log_history.json") if "loss" in h]
    assert len(steps) == 2 and all(h["loss"] > 0 for h in steps)


def test_rl_dataset_carries_the_reward_columns(tokenizer):
    ds = rl_dataset(tokenizer, TRAJECTORIES, stage_inputs(_config(), "rl").view)
    assert set(ds.column_names) == {"prompt", "expert_action", "admissible_actions"}
    assert ds[1]["expert_action"] == "open wardrobe"
    assert "put shirt on bed" in ds[1]["admissible_actions"]


def test_two_rl_steps_on_tiny_model(tmp_path):
    from actrain.models import load_model

    model, tokenizer = load_model("tiny-random")
    config = _config("rl.max_steps=2", "rl.num_generations=2", "rl.prompts_per_step=2",
                     "rl.max_new_tokens=4")
    checkpoint = run_rl(model, tokenizer, TRAJECTORIES, stage_inputs(config, "rl"), tmp_path)
    assert list(checkpoint.glob("*.safetensors"))
    steps = [h for h in read_json(tmp_path / "log_history.json") if "reward" in h]
    assert len(steps) == 2
    for key in ("rewards/action_reward/mean", "rewards/expert_match/mean",
                "rewards/admissible/mean", "rewards/action_format_ok/mean"):
        assert key in steps[0]


def test_empty_trajectories_are_a_clear_error(tokenizer):
    with pytest.raises(ActrainError, match="no expert states"):
        il_dataset(tokenizer, [], stage_inputs(_config(), "il").view)
    with pytest.raises(ActrainError, match="no expert states"):
        rl_dataset(tokenizer, [], stage_inputs(_config(), "rl").view)
