"""The Python API as docs/python-api.md uses it: a notebook-style session on the tiny model."""

import logging
import subprocess
import sys

import pytest

import actrain


def test_import_is_light_and_names_resolve():
    code = "import sys, actrain; actrain.load_config; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"  # torch loads only with a name that needs it
    for name in actrain.__all__:
        assert getattr(actrain, name).__doc__, name  # every exported name says what it is for
    with pytest.raises(AttributeError):
        actrain.nope  # noqa: B018


def test_notebook_session_trains_act_on_own_pairs_and_evaluates(tmp_path):
    config = actrain.load_config(None, [
        "model=tiny-random", "dtype=float32", "critic.max_new_tokens=1", "act.max_steps=1",
        "act.num_generations=2", "act.prompts_per_step=2",
    ])
    pairs = [actrain.pair("tidy up", f"You are in room {i}. You see a shirt.", "take shirt",
                          "inventory", admissible=["inventory", "take shirt"], task=f"t:{i}")
             for i in range(4)]
    assert {p.expert_first for p in pairs} == {True, False}  # both shown orders
    checkpoint = actrain.train_act(config, pairs, out_dir=tmp_path / "act")
    assert (checkpoint / "config.json").exists()
    metrics = actrain.evaluate_critic(config, checkpoint, pairs)
    assert metrics["pairs"] == 4 and 0 <= metrics["balanced_accuracy"] <= 1
    with pytest.raises(ValueError, match="two different actions"):
        actrain.pair("t", "o", "look", "look")


def test_python_use_gets_the_progress_log(monkeypatch):
    logger = logging.getLogger("actrain")
    monkeypatch.setattr(logging.getLogger(), "handlers", [])
    monkeypatch.setattr(logger, "handlers", [])
    from actrain.runtime.logs import ensure_logging

    ensure_logging()
    assert len(logger.handlers) == 1 and logger.level == logging.INFO
    ensure_logging()  # once
    assert len(logger.handlers) == 1
