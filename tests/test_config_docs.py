"""`actrain config`: every key documented, the printout loads back, near-miss keys get a hint,
and overrides are accepted anywhere on the command line."""

import dataclasses

import pytest
import yaml
from conftest import REPO

from actrain.cli.main import main, parse_args
from actrain.config.docs import describe, field_docs, key_paths
from actrain.config.schema import RunConfig, load_config, to_dict
from actrain.errors import ActrainError


def _sections(cls, prefix=""):
    yield prefix, cls
    for f in dataclasses.fields(cls):
        if f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
            if dataclasses.is_dataclass(default):
                yield from _sections(type(default), f"{prefix}{f.name}.")


def test_every_config_key_has_a_doc():
    missing = [prefix + f.name for prefix, cls in _sections(RunConfig)
               for f in dataclasses.fields(cls) if not field_docs(cls).get(f.name)]
    assert missing == []
    # a subclass inherits its base's docs: act.beta is documented on GRPOStageConfig
    assert "KL" in field_docs(type(RunConfig().act))["beta"]


def test_describe_loads_back_and_names_changed_defaults():
    config = load_config(REPO / "configs/quickstart.yaml", ["act.learning_rate=3e-6", "rollout.splits=[id_test]"])
    text = describe(config, ["a header"])
    assert text.startswith("# a header\n")
    assert yaml.safe_load(text) == to_dict(config)
    line = next(row for row in text.splitlines() if row.strip().startswith("learning_rate: 3.0e-06"))
    assert "default 1.0e-05" in line and "peak learning rate" in line
    untouched = next(row for row in text.splitlines() if row.startswith("seed:"))
    assert "default" not in untouched


@pytest.mark.parametrize("override, hint", [
    ("act.max_stepz=3", "did you mean act.max_steps?"),
    ("rollout.episode=3", "did you mean rollout.episodes?"),
    ("max_steps=3", "did you mean act.max_steps or il.max_steps"),
    ("critic.reasonin=true", "did you mean critic.reasoning?"),
])
def test_near_miss_keys_get_a_hint(override, hint):
    with pytest.raises(ActrainError, match="unknown config key") as caught:
        load_config(None, [override])
    assert hint in str(caught.value)


def test_far_keys_list_the_section():
    with pytest.raises(ActrainError, match="known in act.: max_steps, epochs"):
        load_config(None, ["act.zzzz=1"])


def test_key_paths_cover_sections_and_keys():
    paths = key_paths(RunConfig)
    assert {"act", "act.max_steps", "rollout.episodes", "peft.r", "model"} <= set(paths)


def test_overrides_are_accepted_after_flags():
    args = parse_args(["run", str(REPO / "configs/quickstart.yaml"), "--until", "pairs", "name=x", "seed=3"])
    assert args.until == "pairs" and args.overrides == ["name=x", "seed=3"]
    args = parse_args(["eval-critic", "c.yaml", "a=1", "--model", "m", "b=2"])
    assert args.overrides == ["a=1", "b=2"] and args.model == "m"
    with pytest.raises(SystemExit):
        parse_args(["run", "c.yaml", "--until", "pairs", "--nope"])


def test_config_command_prints_the_resolved_config(capsys):
    assert main(["config", str(REPO / "configs/quickstart.yaml"), "act.max_steps=7"]) == 0
    out = capsys.readouterr().out
    loaded = yaml.safe_load(out)
    assert loaded["act"]["max_steps"] == 7 and loaded["name"] == "quickstart"
    assert "dtype auto ->" in out.splitlines()[1]
    assert main(["config", str(REPO / "configs/quickstart.yaml"), "act.max_stepz=7"]) == 1
    assert "did you mean act.max_steps?" in capsys.readouterr().err
