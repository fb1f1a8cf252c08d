import pytest

from actrain.config import load_config, parse_overrides
from actrain.errors import ActrainError
from actrain.io import read_jsonl, write_jsonl


def test_overrides_are_typed_and_nested(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("name: a\nact:\n  max_steps: 3\n")
    config = load_config(path, ["act.max_steps=7", "act.learning_rate=2e-6", "critic.reasoning=true",
                                "act.grpo={beta: 0.1}"])
    assert config.name == "a"
    assert config.act.max_steps == 7
    assert config.act.learning_rate == 2e-6
    assert config.critic.reasoning is True
    assert config.act.grpo == {"beta": 0.1}
    assert config.alternatives.per_state == 1  # untouched default


def test_unknown_keys_and_bad_files_give_one_clear_error(tmp_path):
    with pytest.raises(ActrainError, match="unknown config key.*act.max_stepz"):
        load_config(None, ["act.max_stepz=3"])
    with pytest.raises(ActrainError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ActrainError, match="not valid YAML"):
        load_config(bad)
    with pytest.raises(ActrainError, match="act.max_steps must be a number"):
        load_config(None, ["act.max_steps=many"])
    with pytest.raises(ActrainError, match="must be true or false"):
        load_config(None, ["critic.reasoning=maybe"])
    with pytest.raises(ActrainError, match="key=value"):
        parse_overrides(["oops"])


def test_jsonl_roundtrip_and_corrupt_line(tmp_path):
    path = tmp_path / "x.jsonl"
    write_jsonl(path, [{"a": 1}, {"b": "é"}])
    assert read_jsonl(path) == [{"a": 1}, {"b": "é"}]
    assert not list(tmp_path.glob(".*tmp"))  # atomic write left no temp file
    path.write_text('{"a": 1}\n{"b": \n')
    with pytest.raises(ActrainError, match="line 2 is not valid JSON"):
        read_jsonl(path)


def test_per_task_step_limits_must_be_positive_integers():
    assert load_config(None, ["rollout.max_steps_by_task={boil: 40}"]).rollout.max_steps_by_task == {"boil": 40}
    with pytest.raises(ActrainError, match="max_steps_by_task must map"):
        load_config(None, ["rollout.max_steps_by_task={boil: many}"])
