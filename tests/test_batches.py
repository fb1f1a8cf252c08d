"""Configs state global batches; per-device batches and gradient accumulation follow from the
number of processes, so a config means the same optimisation on one device or many."""

import pytest

from actrain.config.schema import load_config
from actrain.errors import ActrainError
from actrain.stages.common import grpo_args, split_batch
from actrain.stages.inputs import stage_inputs


def test_a_global_batch_is_shared_by_the_processes(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert split_batch("il", 32, 0) == (32, 1)
    assert split_batch("il", 32, 8) == (8, 4)
    monkeypatch.setenv("WORLD_SIZE", "8")
    assert split_batch("il", 32, 0) == (4, 1)
    assert split_batch("il", 32, 2) == (2, 2)
    # GRPO groups stay whole on a process: 4 prompts x 16 samples over 8 processes cannot
    with pytest.raises(ActrainError, match="whole groups of 16"):
        split_batch("act", 64, 0, unit=16)
    with pytest.raises(ActrainError, match="il.micro_batch must divide"):
        split_batch("il", 32, 3)


def test_grpo_steps_keep_their_global_size_on_any_world(tmp_path, monkeypatch):
    config = load_config(None, ["act.prompts_per_step=4", "act.num_generations=8",
                                "act.micro_batch=8"])
    for world, per_device, accumulation in ((1, 8, 4), (2, 8, 2), (4, 8, 1)):
        # (WORLD_SIZE itself would make TrainingArguments start a process group)
        monkeypatch.setattr("actrain.stages.common.world_size", lambda w=world: w)
        args = grpo_args(config.act, "act", tmp_path, stage_inputs(config, "act").trainer, 1)
        assert (args.per_device_train_batch_size, args.gradient_accumulation_steps) == (
            per_device, accumulation)
        assert per_device * accumulation * world == 4 * 8


def test_micro_batches_do_not_change_a_stage_s_fingerprint(tmp_path):
    from actrain.run.pipeline import Pipeline

    keys = set()
    for micro in (0, 4):
        config = load_config(None, [f"runs_dir={tmp_path}", "model=tiny-random",
                                    f"act.micro_batch={micro}"])
        keys.add(Pipeline(config).keys.checkpoint_key(0, ("act",)))
    assert len(keys) == 1
    config = load_config(None, [f"runs_dir={tmp_path}", "model=tiny-random", "act.max_steps=3"])
    assert Pipeline(config).keys.checkpoint_key(0, ("act",)) not in keys
