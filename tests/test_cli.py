"""The CLI end to end on a tiny config: real TWX env, tiny model, 1 GRPO step; then resume."""

import json
from pathlib import Path

import pytest
import yaml

from actrain.cli.main import main

TINY = {
    "name": "tiny",
    "model": "tiny-random",
    "dtype": "float32",
    "env": {"id": "twx/twc"},
    "data": {"train_tasks": 1, "eval_tasks": 1},
    "alternatives": {"samples_per_state": 2},
    "critic": {"max_new_tokens": 3},
    "act": {"max_steps": 1, "num_generations": 2, "prompts_per_step": 2},
    "rollout": {"episodes": 1, "max_steps": 2, "max_new_tokens": 4, "next_action_states": 4},
    "hard_set": {"tasks": 2},
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
                 "critic/base.json", "seed0/act/checkpoint/config.json", "critic/seed0-act.json",
                 "agent/base.json", "agent/seed0-act.json", "agent/seed0-act.episodes.jsonl",
                 "results.json", "report.md", "config.json"):
        assert (run / path).exists(), path
    base = json.loads((run / "critic/base.json").read_text())
    assert {"balanced_accuracy", "accuracy_expert_first", "accuracy_expert_second",
            "format_failure_rate"} <= set(base)
    report = (run / "report.md").read_text()
    assert "balanced accuracy" in report and "| seed0-act |" in report
    assert "| prompt | 1 |" in report and "| act | 1 |" in report  # agent table
    agent = json.loads((run / "agent/seed0-act.json").read_text())
    assert agent["protocol"]["max_steps"] == 2 and agent["id_test"]["episodes"] == 1

    caplog.clear()
    with caplog.at_level("INFO", logger="actrain"):
        assert main(["run", str(tiny_config)]) == 0
    skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    # collect, next-action states, pairs, hard set, 2 critic evals (+ 2 on the hard set), ACT,
    # 2 agent evals
    assert len(skipped) == 11

    # Changing an ACT key re-runs ACT and what follows it, not the data stages.
    caplog.clear()
    with caplog.at_level("INFO", logger="actrain"):
        assert main(["run", str(tiny_config), "act.learning_rate=2e-5"]) == 0
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "collect                  skipped" in messages
    assert "pairs                    skipped" in messages
    assert "agent base               skipped" in messages
    assert "train seed0-act          running" in messages
    assert "critic seed0-act         running" in messages
    assert "agent seed0-act          running" in messages


def test_interrupted_run_resumes_from_last_finished_stage(tiny_config, tmp_path, caplog):
    assert main(["run", str(tiny_config), "--until", "pairs"]) == 0
    run = tmp_path / "runs" / "tiny"
    assert (run / "pairs/train.jsonl").exists() and not (run / "critic").exists()
    with caplog.at_level("INFO", logger="actrain"):
        assert main(["run", str(tiny_config), "--until", "train"]) == 0
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "pairs                    skipped" in messages
    assert "train seed0-act          running" in messages
    assert not (run / "agent").exists()  # --until train evaluates nothing


def test_interrupted_act_resumes_from_trl_checkpoint(tiny_config, tmp_path, monkeypatch):
    import actrain.stages.act as act

    real_evaluate = act.evaluate_critic
    calls = []

    def evaluate_then_die(generator, tokenizer, pairs, *args, **kwargs):
        # Each step judges the held-out pairs, then the hard set: count the held-out calls.
        calls.append(pairs)
        if sum(c is calls[0] for c in calls) == 2:
            raise KeyboardInterrupt  # killed during step 2, after checkpoint-1 was saved
        return real_evaluate(generator, tokenizer, pairs, *args, **kwargs)

    monkeypatch.setattr(act, "evaluate_critic", evaluate_then_die)
    overrides = ["act.max_steps=3", "act.save_steps=1", "act.eval_every=1"]
    assert main(["run", str(tiny_config), *overrides]) == 130
    act_dir = tmp_path / "runs" / "tiny" / "seed0" / "act"
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
    # The hard set and the no-model rules on both sets stand beside the held-out figures.
    hard = (tmp_path / "runs" / "tiny" / "hard" / "pairs.jsonl").read_text().splitlines()
    assert metrics["hard_set"]["pairs"] == len(hard) > 0
    assert {"heldout", "hard"} <= set(metrics["rules"])
    assert "best" in metrics["rules"]["hard"]


def test_compare_shares_checkpoints_and_report_rebuilds(tiny_config, tmp_path, caplog):
    overrides = ["compare.methods=[prompt,il,il_rl]", "compare.seeds=[0]",
                 "il.max_steps=1", "il.batch_size=2", "rl.max_steps=1", "rl.num_generations=2",
                 "rl.max_new_tokens=4"]
    with caplog.at_level("INFO", logger="actrain"):
        assert main(["compare", str(tiny_config), *overrides]) == 0
    steps = [r.getMessage().split("  ")[0].strip() for r in caplog.records
             if r.getMessage().endswith(("running", "skipped (output up to date)"))]
    messages = [r.getMessage() for r in caplog.records]
    assert steps == ["collect", "next-action states", "agent base", "train seed0-il",
                     "agent seed0-il",
                     "train seed0-il", "train seed0-il-rl", "agent seed0-il-rl"]
    assert any(m.startswith("train seed0-il ") and "skipped" in m for m in messages)
    run = tmp_path / "runs" / "tiny"
    assert not (run / "pairs").exists()  # no ACT in these methods: no pairs sampled
    results = json.loads((run / "results.json").read_text())
    assert set(results["agent"]) == {"prompt", "il", "il_rl"}
    (run / "report.md").unlink()
    assert main(["report", "--compare", str(tiny_config), *overrides]) == 0
    assert "| il_rl | 1 |" in (run / "report.md").read_text()


def test_unknown_method_is_one_clear_line(tiny_config, capsys):
    assert main(["run", str(tiny_config), "pipeline=act_sft"]) == 1
    err = capsys.readouterr().err
    assert "unknown method 'act_sft'" in err and "il_rl_rl" in err


def test_envs_command_says_what_runs_here(capsys, monkeypatch, tmp_path):
    assert main(["envs"]) == 0
    rows = dict(line.split(None, 1) for line in capsys.readouterr().out.splitlines())
    assert rows["twx/twc"] == "usable here"  # installed with the test extras, Java on PATH
    assert rows["webshop/text"].startswith("needs web_agent_site")  # not on PyPI
    monkeypatch.setenv("PATH", str(tmp_path))  # no java
    monkeypatch.setenv("ALFWORLD_DATA", str(tmp_path / "none"))
    assert main(["envs"]) == 0
    rows = dict(line.split(None, 1) for line in capsys.readouterr().out.splitlines())
    assert rows["scienceworld/tasks"] == "needs Java 17 on PATH (apt-get install openjdk-17-jre-headless)"
    assert "ALFWorld games at" in rows["alfworld/text"]
    monkeypatch.chdir(Path(__file__).parent / "helpers")  # a config's entry point is listed too
    assert main(["envs", "env.id=corridor/v0", "env.entry_point=corridor_plugin:Corridor"]) == 0
    rows = dict(line.split(None, 1) for line in capsys.readouterr().out.splitlines())
    assert rows["corridor/v0"] == "usable here"


def test_eval_agent_on_any_checkpoint_and_missing_one(tiny_config, tmp_path, capsys):
    missing = str(tmp_path / "runs" / "tiny" / "seed0" / "il" / "checkpoint")
    assert main(["eval-agent", str(tiny_config), "--model", missing]) == 1
    err = capsys.readouterr().err.strip()
    assert "does not exist" in err and "\n" not in err
    out = tmp_path / "agent.json"
    assert main(["eval-agent", str(tiny_config), "rollout.splits=[id_test]", "--model",
                 "tiny-random", "--out", str(out)]) == 0
    summary = json.loads(out.read_text())
    assert summary["id_test"]["episodes"] == 1 and "ood_test" not in summary
    assert out.with_suffix(".episodes.jsonl").exists()
    assert "next_action" not in summary  # no run folder: no held-out expert states
    from actrain.runtime.io import write_jsonl

    write_jsonl(tmp_path / "runs" / "tiny" / "trajectories" / "id_test.jsonl", [
        {"task": "id_test:0", "task_description": "t", "steps": [
            {"observation": "o", "admissible": ["look"], "expert_action": "look"}]}])
    assert main(["eval-agent", str(tiny_config), "rollout.splits=[id_test]", "--model",
                 "tiny-random", "--out", str(out)]) == 0
    assert json.loads(out.read_text())["next_action"]["states"] == 1
    # the per-split states a run gathers, where every rollout split has them
    for split in ("id_test", "ood_test"):
        write_jsonl(tmp_path / "runs" / "tiny" / "trajectories" / f"next_action_{split}.jsonl", [
            {"task": f"{split}:{i}", "task_description": "t", "steps": [
                {"observation": "o", "admissible": ["look"], "expert_action": "look"}]}
            for i in range(2)])
    assert main(["eval-agent", str(tiny_config), "rollout.episodes=0", "--model",
                 "tiny-random", "--out", str(out)]) == 0
    by_split = json.loads(out.read_text())["next_action"]
    assert by_split["id_test"]["states"] == by_split["ood_test"]["states"] == 2
    assert main(["eval-agent", str(tiny_config), "rollout.splits=[valid_seen]", "--model",
                 "tiny-random"]) == 1
    assert "unknown split" in capsys.readouterr().err


def test_errors_are_one_line_and_debug_shows_the_traceback(capsys, monkeypatch):
    import actrain.cli.main as cli
    from actrain.errors import ActrainError

    assert cli.main(["run", "no-such-config.yaml"]) == 1
    err = capsys.readouterr().err
    assert err == "actrain: error: config file no-such-config.yaml does not exist\n"
    with pytest.raises(ActrainError):
        cli.main(["run", "no-such-config.yaml", "--debug"])

    def broken(_args):
        raise ValueError("something inside broke\nwith a second line")

    monkeypatch.setattr(cli, "_envs", broken)
    assert cli.main(["envs"]) == 1
    assert capsys.readouterr().err == (
        "actrain: error: ValueError: something inside broke (run again with --debug for the "
        "traceback)\n")
    with pytest.raises(ValueError):
        cli.main(["envs", "--debug"])
