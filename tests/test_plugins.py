"""Plugins: an environment by `env.entry_point` and rewards by `act.reward` / `rl.reward`, run
from a YAML alone on the tiny model; bad paths are one clear line."""

import json
from pathlib import Path

import pytest
import yaml

from actrain.cli.main import main
from actrain.config.plugins import load_object, load_reward
from actrain.config.schema import load_config
from actrain.envs.base import from_config
from actrain.errors import ActrainError
from actrain.stages.inputs import key_settings, stage_inputs

HELPERS = Path(__file__).parent / "helpers"


def _plugin_config(tmp_path, **extra):
    return {
        "name": "plugin", "runs_dir": str(tmp_path / "runs"), "model": "tiny-random",
        "dtype": "float32", "pipeline": "act_rl",
        "env": {"id": "corridor/v0", "entry_point": "corridor_plugin:Corridor",
                "kwargs": {"length": 2}},
        "data": {"train_tasks": 2, "eval_tasks": 1},
        "alternatives": {"mode": "admissible"},
        "critic": {"max_new_tokens": 1},
        "act": {"max_steps": 1, "num_generations": 2, "prompts_per_step": 2,
                "reward": "corridor_plugin:quarter"},
        "rl": {"max_steps": 1, "num_generations": 2, "prompts_per_step": 2,
               "reward": "corridor_plugin:three_quarters"},
        "rollout": {"episodes": 1, "max_steps": 3, "max_new_tokens": 4,
                    "splits": ["id_test"]},
        **extra,
    }


def test_entry_point_env_and_rewards_run_from_yaml(tmp_path, monkeypatch):
    monkeypatch.chdir(HELPERS)  # the plugin module sits in the working directory
    path = tmp_path / "plugin.yaml"
    path.write_text(yaml.safe_dump(_plugin_config(tmp_path)))
    assert main(["run", str(path)]) == 0
    run = tmp_path / "runs" / "plugin"
    expert = [json.loads(line) for line in (run / "trajectories/train.jsonl").open()]
    assert [s["expert_action"] for s in expert[0]["steps"]] == ["go forward", "go forward"]
    assert expert[0]["won"]
    act_log = json.loads((run / "seed0/act/log_history.json").read_text())
    assert act_log[0]["rewards/quarter/mean"] == pytest.approx(0.25)
    rl_log = json.loads((run / "seed0/act-rl/log_history.json").read_text())
    assert rl_log[0]["rewards/three_quarters/mean"] == pytest.approx(0.75)
    agent = json.loads((run / "agent/seed0-act-rl.json").read_text())
    assert agent["id_test"]["episodes"] == 1


def test_bad_plugin_paths_are_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(HELPERS)
    with pytest.raises(ActrainError, match="is not an import path"):
        load_object("corridor_plugin.Corridor", "env.entry_point")
    with pytest.raises(ActrainError, match="cannot import 'no_such_module'"):
        load_object("no_such_module:X", "act.reward")
    with pytest.raises(ActrainError, match="has no 'Nope'"):
        load_object("corridor_plugin:Nope", "act.reward")
    with pytest.raises(ActrainError, match=r"must be f\(prompts, completions, \*\*kwargs\)"):
        load_reward("corridor_plugin:not_a_reward", "rl.reward")
    config = load_config(None, ["env.id=corridor/v1", "env.entry_point=corridor_plugin:not_an_env"])
    with pytest.raises(ActrainError, match="made a list, not a TextEnv"):
        from_config(config.env)
    config = load_config(None, ["env.id=corridor/v2", "env.entry_point=json:JSONDecoder"])
    with pytest.raises(ActrainError, match="is not a TextEnv subclass"):
        from_config(config.env)
    config = load_config(None, ["env.id=corridor/v3", "env.entry_point=corridor_plugin:Corridor",
                                "env.kwargs={lenght: 3}"])
    with pytest.raises(ActrainError, match="does not take env.kwargs.*lenght"):
        from_config(config.env)
    # the pipeline refuses a bad reward before it collects anything
    path = tmp_path / "bad.yaml"
    bad = _plugin_config(tmp_path)
    bad["rl"]["reward"] = "corridor_plugin:not_a_reward"
    path.write_text(yaml.safe_dump(bad))
    assert main(["run", str(path)]) == 1
    assert "rl.reward" in capsys.readouterr().err
    assert not (tmp_path / "runs" / "plugin" / "trajectories").exists()


def test_reward_and_entry_point_keys():
    plain = load_config(None)
    custom = load_config(None, ["act.reward=m:f"])
    assert "reward" not in key_settings(stage_inputs(plain, "act"))["act"]  # older runs' keys
    assert key_settings(stage_inputs(custom, "act"))["act"]["reward"] == "m:f"
    with pytest.raises(ActrainError, match="act.reward is a GRPO reward"):
        load_config(None, ["act.reward=m:f", "act.objective=sft"])
