"""IL (TRL SFTTrainer) and RL (TRL GRPOTrainer on next actions) on the tiny model, 2 steps each."""

import pytest

from actrain.config.schema import load_config
from actrain.errors import ActrainError
from actrain.runtime.io import read_json
from actrain.stages.il import il_dataset, run_il, sequence_lengths, sft_config
from actrain.stages.inputs import stage_inputs
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


# A state whose prompt is longer than TRL's default max_length of 1024 tokens (a long room).
LONG_ROOM = "You are in the storeroom. You see " + ", ".join(
    f"a crate labelled {i}" for i in range(250)) + "."
LONG_TRAJECTORIES = [
    {**t, "steps": [{**t["steps"][0], "observation": LONG_ROOM}, t["steps"][1]]}
    for t in TRAJECTORIES[:2]
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
    from actrain.runtime.models import load_model

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
    from actrain.runtime.models import load_model

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


def test_il_keeps_the_expert_action_of_a_state_longer_than_1024_tokens(tmp_path, monkeypatch):
    """TRL keeps the start of a row over max_length: the action, the only labelled part, went."""
    from trl import SFTTrainer

    from actrain.runtime.models import load_model

    model, tokenizer = load_model("tiny-random")
    inputs = stage_inputs(_config("il.max_steps=1", "il.batch_size=2"), "il")
    rows = il_dataset(tokenizer, LONG_TRAJECTORIES, inputs.view)
    lengths = sequence_lengths(tokenizer, rows["prompt"], rows["completion"])
    assert lengths.longest_prompt > 1024  # past the old fixed max_length
    seen = {}
    train = SFTTrainer.train

    def recording_train(self, *args, **kwargs):
        seen["rows"], seen["max_length"] = self.train_dataset, self.args.max_length
        return train(self, *args, **kwargs)

    monkeypatch.setattr(SFTTrainer, "train", recording_train)
    run_il(model, tokenizer, LONG_TRAJECTORIES, inputs, tmp_path)
    assert len(seen["rows"]) == len(rows)  # no row dropped for being all prompt
    for row, completion in zip(seen["rows"], rows["completion"], strict=True):
        labelled = tokenizer.decode([t for t in row["labels"] if t != -100])
        assert labelled == completion + tokenizer.eos_token  # the whole action is trained on
    assert seen["max_length"] == lengths.longest_row
    length = read_json(tmp_path / "length.json")
    assert length["longest_prompt_tokens"] == lengths.longest_prompt
    assert length["max_length"] == lengths.longest_row and length["steps"] == 1


def test_a_max_length_that_would_cut_the_action_is_refused(tokenizer, tiny_model, tmp_path):
    model, _ = tiny_model
    inputs = stage_inputs(_config("il.max_steps=1", "il.sft={max_length: 1024}"), "il")
    with pytest.raises(ActrainError, match=r"il.sft.max_length 1024 would cut the labelled "
                                           r"completion: the longest prompt is \d+ tokens"):
        run_il(model, tokenizer, LONG_TRAJECTORIES, inputs, tmp_path)
    assert not (tmp_path / "checkpoint").exists()
