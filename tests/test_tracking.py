"""Tracking: `report_to` reaches every TRL stage and actrain's own evaluations, checked through
TensorBoard's event files; trackers that are unknown or not installed are one clear line."""

import sys
import types

import pytest
import yaml

from actrain.cli.main import main
from actrain.config.schema import load_config
from actrain.errors import ActrainError
from actrain.runtime.tracking import Tracker, check_trackers, scalars
from actrain.stages.inputs import key_settings, stage_inputs


def _events(folder):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def test_report_to_reaches_training_and_evaluations(tmp_path):
    from test_cli import TINY

    config = {**TINY, "runs_dir": str(tmp_path / "runs"), "report_to": "tensorboard",
              "act": {**TINY["act"], "max_steps": 2, "eval_every": 1}}
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["run", str(path)]) == 0
    board = tmp_path / "runs" / "tiny" / "tensorboard"
    act = _events(board / "seed0-act")
    assert [step for step, _ in act["train/loss"]] == [1, 2]  # TRL's own logging, every step
    assert [step for step, _ in act["heldout_critic/balanced_accuracy"]] == [1, 2]
    assert "critic/balanced_accuracy" in act  # the final held-out evaluation
    assert "agent/id_test/success_rate" in act
    base = _events(board / "base")
    assert "critic/balanced_accuracy" in base and "agent/id_test/success_rate" in base
    data = _events(board / "data")
    assert data["pairs/train/states"][0][1] > 0


def test_trackers_change_no_stage_key():
    plain = load_config(None)
    tracked = load_config(None, ["report_to=[tensorboard]", "run_name=x"])
    for stage in ("act", "il", "rl"):
        assert key_settings(stage_inputs(plain, stage)) == key_settings(stage_inputs(tracked, stage))
    assert stage_inputs(tracked, "il").trainer.report_to == ("tensorboard",)


def test_per_stage_report_to_points_to_the_top_level_key():
    from actrain.stages.common import OWN_KEYS, passthrough

    with pytest.raises(ActrainError, match=r"act.grpo.report_to would override report_to \(top level\)"):
        passthrough("act.grpo", {"report_to": "wandb"}, OWN_KEYS)


def test_report_to_spellings():
    assert load_config(None, ["report_to=none"]).report_to == []
    assert load_config(None, ["report_to=tensorboard,wandb"]).report_to == ["tensorboard", "wandb"]
    assert load_config(None, ["report_to=[trackio]"]).report_to == ["trackio"]
    assert load_config(None, []).tracking_name == "quickstart"
    # any list key: one value, or items joined by commas, typed like the default's items
    assert load_config(None, ["compare.seeds=0,2"]).compare.seeds == [0, 2]
    assert load_config(None, ["compare.seeds=3"]).compare.seeds == [3]
    assert load_config(None, ["rollout.splits=id_test"]).rollout.splits == ["id_test"]
    with pytest.raises(ActrainError, match="compare.seeds must be a number"):
        load_config(None, ["compare.seeds=a,b"])


def test_unknown_or_missing_tracker_is_one_line(monkeypatch):
    with pytest.raises(ActrainError, match="unknown tracker 'tensorbord'"):
        check_trackers(["tensorbord"])
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "wandb" else real(name, *a))
    with pytest.raises(ActrainError, match="wandb is not installed here: pip install wandb"):
        check_trackers(["tensorboard", "wandb"])


def test_scalars_flatten_numbers_only():
    assert scalars({"a": 1, "b": {"c": 0.5, "d": "text", "e": [1]}, "f": True}) == {"a": 1.0, "b/c": 0.5}


def test_wandb_and_trackio_get_one_session_a_source(tmp_path, monkeypatch):
    calls = []

    class Run:
        def log(self, values, step):
            calls.append(("wandb.log", values, step))

        def finish(self):
            calls.append(("wandb.finish",))

    fake_wandb = types.SimpleNamespace(init=lambda **kw: calls.append(("wandb.init", kw)) or Run())
    fake_trackio = types.SimpleNamespace(
        init=lambda **kw: calls.append(("trackio.init", kw)),
        log=lambda values, step: calls.append(("trackio.log", values, step)),
        finish=lambda: calls.append(("trackio.finish",)))
    monkeypatch.setitem(sys.modules, "wandb", fake_wandb)
    monkeypatch.setitem(sys.modules, "trackio", fake_trackio)
    Tracker(["wandb", "trackio"], tmp_path, "exp").log_rows("seed0-act", [(1, {"x": 1}), (2, {"x": 2})])
    assert calls[0][0] == "wandb.init" and calls[0][1]["name"] == "exp/seed0-act"
    assert calls[0][1]["group"] == "exp"
    assert ("wandb.log", {"x": 2.0}, 2) in calls and ("wandb.finish",) in calls
    assert ("trackio.log", {"x": 1.0}, 1) in calls and calls[-1] == ("trackio.finish",)


def test_no_tracker_logs_nothing(tmp_path):
    Tracker([], tmp_path, "exp").log("data", {"a": 1})
    assert not (tmp_path / "tensorboard").exists()
