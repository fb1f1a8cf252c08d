"""A training stage is its module plus one line of registration: the pipeline, `plan`, the
fingerprints and the method names find it by name (`stages/registry.py`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from actrain.config.schema import RunConfig, load_config
from actrain.errors import ActrainError
from actrain.stages import registry
from actrain.stages.inputs import ILInputs, TrainerSettings, actor_view, method_stages

# -- a toy stage, as a user's module would declare it ----------------------------------------
SEEN: dict[str, Any] = {}


def _inputs(config: RunConfig, name: str, trainer: TrainerSettings) -> ILInputs:
    return ILInputs(config.il, actor_view(config), trainer)  # it reads the `il` section


def _trl_args(inputs: ILInputs, out: Path) -> Any:
    from actrain.stages.il import sft_config

    return sft_config(inputs, out)


def _train(model: Any, tokenizer: Any, inputs: ILInputs, data: Any, out: Path) -> Path:
    """Trains nothing: records what it was given and saves the model it started from."""
    from actrain.runtime.models import save_model_folder

    SEEN.update(trajectories=data.trajectories(), stage=inputs.trainer.stage)
    return save_model_folder(model, tokenizer, out / "checkpoint")


def _plan(config: RunConfig, name: str, states: float) -> registry.PlanWork:
    return registry.PlanWork(grpo=False, settings=config.il, rows=states, completion=8)


TOY = registry.Stage("toy", "il", _inputs, "collect", _trl_args, _train, _plan)


@pytest.fixture
def toy(monkeypatch):
    """The toy stage registered for one test (the registry's table restored after it)."""
    monkeypatch.setattr(registry, "_registered", dict(registry._registered))
    registry.register(TOY)  # the one line a new stage adds
    SEEN.clear()
    return TOY


def _config(tmp_path: Path, *extra: str) -> RunConfig:
    return load_config(None, [f"runs_dir={tmp_path}", "name=r", "model=tiny-random",
                              "dtype=float32", "device=cpu", "env.id=twx/twc",
                              "rollout.enabled=false", *extra])


def test_an_unregistered_stage_is_refused_by_name():
    with pytest.raises(ActrainError, match="unknown method 'il_toy'"):
        method_stages("il_toy")
    with pytest.raises(ActrainError, match="unknown training stage 'act-ppo'"):
        registry.get("act-ppo")


def test_a_registered_stage_is_nameable_keyed_and_planned(toy, tmp_path):
    from actrain.run.keys import RunKeys
    from actrain.run.plan import plan
    from actrain.stages.inputs import data_of, stage_inputs

    assert method_stages("il_toy") == ("il", "toy") and "toy" in registry.names()
    config = _config(tmp_path)
    assert data_of("toy") == "collect"
    assert stage_inputs(config, "toy").trainer.stage == "toy"
    keys = RunKeys(config)
    # its own key, chained after the stage before it, and distinct from IL's on the same section
    assert keys.checkpoint_key(0, ("il", "toy")) != keys.checkpoint_key(0, ("il", "il"))
    text = plan(config, ["il_toy"], [0], "h100", 1, False, 10, None)
    rows = [line for line in text.splitlines() if line.startswith("| toy |")]
    assert len(rows) == 1, text


def test_the_pipeline_trains_a_registered_stage_on_the_data_it_declares(toy, tmp_path):
    from helpers.trajectories import SHIRT_TRAJECTORIES

    from actrain.run.pipeline import Pipeline
    from actrain.runtime.io import write_jsonl

    pipeline = Pipeline(_config(tmp_path), ["toy"], [0])
    write_jsonl(pipeline.layout.train_traj, SHIRT_TRAJECTORIES)
    pipeline.train(0, ("toy",))
    assert SEEN["stage"] == "toy"
    assert len(SEEN["trajectories"]) == len(SHIRT_TRAJECTORIES)
    checkpoint = Path(pipeline.layout.checkpoint(0, ("toy",)))
    assert (checkpoint / "config.json").exists()
    assert "train seed0-toy" in pipeline.ctx.book.entries  # recorded, so a rerun skips it
