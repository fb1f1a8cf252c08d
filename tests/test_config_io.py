import pytest

from actrain.config.schema import load_config, parse_overrides
from actrain.errors import ActrainError
from actrain.runtime.io import read_jsonl, write_jsonl


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
    with pytest.raises(ActrainError, match=r"override 'act.grpo=\{beta:': the value is not valid"):
        parse_overrides(["act.grpo={beta:"])  # what an unquoted {beta: 0.1} reaches us as


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


def test_bad_input_is_one_line_naming_where(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: a\nact:\n  max_steps: [3\n")
    with pytest.raises(ActrainError) as caught:
        load_config(bad)
    message = str(caught.value)
    assert "\n" not in message and "line 4, column 1" in message  # not PyYAML's dump
    for override, key in (("env.kwargs=5", "env.kwargs"), ("act.grpo=5", "act.grpo"),
                          ("il.sft=[1]", "il.sft")):
        with pytest.raises(ActrainError, match=f"config key {key} must be a mapping"):
            load_config(None, [override])
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(ActrainError, match="not UTF-8"):
        load_config(latin)


def test_data_files_name_the_line_that_is_wrong(tmp_path):
    from actrain.runtime.io import read_pairs, read_trajectories

    binary = tmp_path / "train.jsonl"
    binary.write_bytes(b'{"task": "a", "task_description": "t", "steps": []}\n\xff\xfe\n')
    with pytest.raises(ActrainError, match=r"train.jsonl: line 2 is not UTF-8"):
        read_trajectories(binary)
    shapeless = tmp_path / "t.jsonl"
    shapeless.write_text('{"task": "a", "task_description": "t"}\n')
    with pytest.raises(ActrainError, match=r"t.jsonl: line 1 is not a record with task, "
                                           r"task_description, steps \(missing steps\)"):
        read_trajectories(shapeless)
    listed = tmp_path / "p.jsonl"
    listed.write_text("[1, 2]\n")
    with pytest.raises(ActrainError, match="line 1 is not a record"):
        read_pairs(listed)


def test_every_config_section_lives_in_the_config_schema():
    import dataclasses

    from actrain.config import schema as config

    sections = [f.default_factory for f in dataclasses.fields(config.RunConfig)
                if f.default_factory is not dataclasses.MISSING
                and dataclasses.is_dataclass(f.default_factory)]
    assert len(sections) >= 12
    # the schema package's own modules (data, training, evaluation sections)
    assert {s.__module__.rpartition(".")[0] for s in sections} == {"actrain.config.schema"}
