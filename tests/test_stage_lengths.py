"""Matched-length controls: stage lengths in epochs over each stage's own data."""

import pytest

from actrain.config.schema import load_config
from actrain.errors import ActrainError
from actrain.report.markdown import length_table
from actrain.run.plan import plan
from actrain.stages.common import grpo_steps


def test_grpo_length_in_epochs_is_converted_to_steps_from_the_data():
    config = load_config(None, ["act.max_steps=0", "act.epochs=1.5", "act.prompts_per_step=4",
                                "rl.max_steps=7"])
    assert grpo_steps(config.act, 74) == 28  # ceil(1.5 * 74 / 4)
    assert grpo_steps(config.act, None) == 1  # built only to be checked: no data yet
    assert grpo_steps(config.rl, 74) == 7  # max_steps wins when set
    with pytest.raises(ActrainError, match="epochs > 0"):
        grpo_steps(load_config(None, ["act.max_steps=0", "act.epochs=0"]).act, 10)


def test_the_report_prints_each_methods_stages_and_total_epochs():
    results = {"methods": ["prompt", "il_il", "act_il"], "seeds": [0], "training": {
        "seed0-il": {"length": {"steps": 10, "epochs": 1.0}},
        "seed0-il-il": {"length": {"steps": 10, "epochs": 1.0}},
        "seed0-act": {"length": {"steps": 19, "epochs": 1.027}},
        "seed0-act-il": {"length": {"steps": 10, "epochs": 1.0}},
    }}
    table = "\n".join(length_table(results))
    assert "| il_il | 0 | il 10 steps, 1 ep.; il 10 steps, 1 ep. | 2 |" in table
    assert "| act_il | 0 | act 19 steps, 1.027 ep.; il 10 steps, 1 ep. | 2.027 |" in table
    assert "prompt" not in table
    assert length_table({**results, "training": {}}) == []


def test_plan_counts_the_early_experience_stages_and_epoch_lengths():
    config = load_config(None, ["model=tiny-random", "act.max_steps=0", "act.epochs=2",
                                "act.prompts_per_step=4", "data.train_tasks=10"])
    text = plan(config, ["sr", "iwm_il", "act"], [0], "h100", 1, False, 5.0, None)
    rows = {line.split("|")[1].strip(): line for line in text.splitlines()
            if line.startswith("| ") and not line.startswith("| stage")}
    assert set(rows) == {"sr", "iwm", "il", "act"}
    assert rows["act"].split("|")[2].strip() == "25"  # 2 epochs of 50 pairs, 4 a step
    assert rows["iwm"].split("|")[2].strip() == "13"  # 100 next observations, 8 a step
    assert "self-reflection rationales (50, greedy)" in text
