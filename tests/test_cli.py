"""The CLI end to end on a tiny config: real TWX env, tiny model, 1 GRPO step; then resume."""

import json

import pytest
import yaml

from actrain.cli import main

TINY = {
    "name": "tiny",
    "model": "tiny-random",
    "dtype": "float32",
    "env": {"id": "twx/twc"},
    "data": {"train_tasks": 1, "eval_tasks": 1},
    "alternatives": {"samples_per_state": 2},
    "critic": {"max_new_tokens": 3},
    "act": {"max_steps": 1, "num_generations": 2, "prompts_per_step": 2},
}


@pytest.fixture
def tiny_config(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump({**TINY, "runs_dir": str(tmp_path / "runs")}))
    return path


def test_run_writes_every_stage_then_skips_on_rerun(tiny_config, tmp_path, caplog):
    assert main(["run", str(tiny_config)]) == 0
    run = tmp_path / "runs" / "tiny"
    for path in ("trajectories/train.jsonl", "pairs/train.jsonl", "pairs/id_test.jsonl",
                 "critic/base.json", "act/checkpoint/config.json", "critic/act.json",
                 "report.md", "config.json"):
        assert (run / path).exists(), path
    base = json.loads((run / "critic/base.json").read_text())
    assert {"balanced_accuracy", "accuracy_expert_first", "accuracy_expert_second",
            "format_failure_rate"} <= set(base)
    report = (run / "report.md").read_text()
    assert "balanced accuracy" in report and "after ACT" in report

    caplog.clear()
    with caplog.at_level("INFO", logger="actrain"):
        assert main(["run", str(tiny_config)]) == 0
    skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(skipped) == 6

    # Changing an ACT key re-runs ACT and what follows it, not the data stages.
    caplog.clear()
    with caplog.at_level("INFO", logger="actrain"):
        assert main(["run", str(tiny_config), "act.learning_rate=2e-5"]) == 0
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "collect   skipped" in messages and "pairs     skipped" in messages
    assert "act       running" in messages and "eval_act  running" in messages


def test_interrupted_run_resumes_from_last_finished_stage(tiny_config, tmp_path, caplog):
    assert main(["run", str(tiny_config), "--until", "pairs"]) == 0
    run = tmp_path / "runs" / "tiny"
    assert (run / "pairs/train.jsonl").exists() and not (run / "critic").exists()
    with caplog.at_level("INFO", logger="actrain"):
        assert main(["run", str(tiny_config), "--until", "eval_base"]) == 0
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "pairs     skipped" in messages and "eval_base running" in messages


def test_interrupted_act_resumes_from_trl_checkpoint(tiny_config, tmp_path, monkeypatch):
    import actrain.stages.act as act

    real_evaluate = act.evaluate_critic
    calls = []

    def evaluate_then_die(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # killed during step 2, after checkpoint-1 was saved
        return real_evaluate(*args, **kwargs)

    monkeypatch.setattr(act, "evaluate_critic", evaluate_then_die)
    overrides = ["act.max_steps=3", "act.save_steps=1", "act.eval_every=1"]
    assert main(["run", str(tiny_config), *overrides]) == 130
    act_dir = tmp_path / "runs" / "tiny" / "act"
    assert (act_dir / "trainer" / "checkpoint-1").exists()
    assert not (act_dir / "checkpoint").exists()

    monkeypatch.setattr(act, "evaluate_critic", real_evaluate)
    assert main(["run", str(tiny_config), *overrides]) == 0
    assert (act_dir / "checkpoint" / "config.json").exists()
    history = json.loads((act_dir / "log_history.json").read_text())
    assert [h["step"] for h in history if "reward" in h] == [1, 2, 3]  # step 1 not redone

    # A different ACT configuration must not resume the old optimiser state.
    assert main(["run", str(tiny_config), "act.max_steps=1", "act.save_steps=1"]) == 0
    assert not (act_dir / "trainer" / "checkpoint-3").exists()


def test_bad_input_is_one_line_and_exit_1(tiny_config, capsys):
    assert main(["run", str(tiny_config), "env.id=nope/x"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("actrain: error: unknown environment 'nope/x'")
    assert "\n" not in err
    assert main(["run", "missing.yaml"]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_corrupt_stage_output_is_reported_not_crashed(tiny_config, tmp_path, capsys):
    assert main(["run", str(tiny_config), "--until", "collect"]) == 0
    traj = tmp_path / "runs" / "tiny" / "trajectories" / "train.jsonl"
    traj.write_text('{"task": "x", "steps": [\n')
    assert main(["run", str(tiny_config), "--until", "pairs"]) == 1
    assert "not valid JSON" in capsys.readouterr().err


def test_eval_critic_on_any_checkpoint(tiny_config, tmp_path, capsys):
    assert main(["eval-critic", str(tiny_config), "--model", "tiny-random"]) == 1
    assert "--until pairs" in capsys.readouterr().err
    assert main(["run", str(tiny_config), "--until", "pairs"]) == 0
    out = tmp_path / "m.json"
    assert main(["eval-critic", str(tiny_config), "--model", "tiny-random", "--out", str(out)]) == 0
    metrics = json.loads(out.read_text())
    assert metrics["model"] == "tiny-random" and metrics["pairs"] > 0
    assert metrics["format_failure_rate"] is not None


def test_envs_command(capsys):
    assert main(["envs"]) == 0
    assert "twx/twc" in capsys.readouterr().out
