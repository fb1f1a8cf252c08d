"""What a training stage leaves behind in the process: nothing (`compare` trains many models in
one process, and every byte a finished stage still holds is missing from the next one)."""

from __future__ import annotations

import gc
import weakref
from typing import Any

import pytest
import transformers

from actrain.config.schema import load_config


def test_a_training_stage_frees_the_base_model_before_and_its_own_objects_after(
        tmp_path, monkeypatch):
    from actrain.run.pipeline import Pipeline

    config = load_config(None, [
        f"runs_dir={tmp_path}", "name=r", "model=tiny-random", "dtype=float32", "device=cpu",
        "pipeline=act", "env.id=twx/twc", "data.train_tasks=2", "data.eval_tasks=1",
        "alternatives.mode=admissible", "critic.max_new_tokens=1", "act.max_steps=1",
        "act.num_generations=2", "act.prompts_per_step=2", "rollout.enabled=false",
    ])
    pipeline = Pipeline(config, ["act"])
    pipeline.collect()
    pipeline.pairs()
    base = weakref.ref(pipeline.base_model()[0])  # cached by the pairs step
    made: list[tuple[str, weakref.ref]] = []

    real_init = transformers.Trainer.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        made.append(("trainer", weakref.ref(self)))
        real_init(self, *args, **kwargs)

    real_load = Pipeline.load_model

    def load_model(self: Any, name: str, for_training: bool = False) -> tuple[Any, Any]:
        model, tokenizer = real_load(self, name, for_training)
        made.append(("model", weakref.ref(model)))
        return model, tokenizer

    real_stage = Pipeline._train_stage
    base_alive_in_training: list[bool] = []

    def train_stage(self: Any, *args: Any) -> None:
        base_alive_in_training.append(base() is not None)
        real_stage(self, *args)

    monkeypatch.setattr(transformers.Trainer, "__init__", init)
    monkeypatch.setattr(Pipeline, "load_model", load_model)
    monkeypatch.setattr(Pipeline, "_train_stage", train_stage)
    # Collection only where the pipeline asks for it: a model in a reference cycle (its
    # wrapped forward) stays alive otherwise until some later allocation triggers it.
    gc.collect()
    gc.disable()
    try:
        pipeline.train(0, ("act",))
        alive = [name for name, ref in made if ref() is not None]
    finally:
        gc.enable()
    assert base_alive_in_training == [False]
    assert {name for name, _ in made} == {"trainer", "model"}
    assert alive == []


class _Zero3Config:
    def is_zero3(self) -> bool:
        return True


def test_models_loaded_after_training_are_not_partitioned(monkeypatch):
    from accelerate.state import AcceleratorState
    from transformers.integrations import deepspeed

    from actrain.runtime.release import release

    # What accelerate's DeepSpeed plugin leaves after a ZeRO-3 stage: transformers' global weak
    # reference to a live config (and the plugin in accelerate's shared state).
    config = _Zero3Config()
    monkeypatch.setattr(deepspeed, "_hf_deepspeed_config_weak_ref", weakref.ref(config))
    AcceleratorState._shared_state["deepspeed_plugins"] = {"default": config}
    try:
        assert deepspeed.is_deepspeed_zero3_enabled()
        release(after_training=True)
        assert not deepspeed.is_deepspeed_zero3_enabled()
        assert "deepspeed_plugins" not in AcceleratorState._shared_state
    finally:
        AcceleratorState._shared_state.pop("deepspeed_plugins", None)


@pytest.mark.parametrize("engines", [0, 2])
def test_release_closes_the_engines_it_is_given(engines):
    from actrain.runtime.release import release

    class Engine:
        closed = 0

        def close(self) -> None:
            Engine.closed += 1

    release([Engine() for _ in range(engines)])
    assert Engine.closed == engines
