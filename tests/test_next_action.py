"""Held-out next-action states per split: collected once a run, measured for every agent state
by state, and compared between methods with paired intervals."""

import pytest
import torch

from actrain.config.schema import load_config
from actrain.errors import ActrainError
from actrain.eval.agent_settings import AgentSettings
from actrain.eval.next_action import next_action_by_split, next_action_records
from actrain.records import EpisodeRecord
from actrain.runtime.io import read_json, read_jsonl, write_json, write_jsonl


def _trajectory(task: str, actions: list[str]) -> dict:
    return {"task": task, "task_description": "tidy up", "won": True, "score": 1.0, "steps": [
        {"observation": f"room {i}", "admissible": ["take shirt", "inventory"],
         "expert_action": a} for i, a in enumerate(actions)]}


def test_every_state_is_kept_with_its_split_task_step_and_verdict(tokenizer, monkeypatch):
    import actrain.eval.next_action as next_action

    answers = {"room 0": "take shirt</action>", "room 1": "inventory</action>",
               "room 2": "take\nit"}
    calls = []

    def fake_generate(model, tok, prompts, **kwargs):
        calls.append(kwargs)
        return [[next(a for room, a in answers.items() if f"observation: {room}\n" in p)]
                for p in prompts]

    monkeypatch.setattr(next_action, "generate", fake_generate)
    states = {"id_test": [_trajectory("id_test:0", ["take shirt", "take shirt"])],
              "ood_test": [_trajectory("ood_test:4", ["Take  Shirt", "inventory", "look"])]}
    records = next_action_records(None, tokenizer, states, AgentSettings())
    assert len(calls) == 1 and calls[0]["common_prefix"] is True  # one call for all splits
    assert [(r.split, r.task, r.step) for r in records] == [
        ("id_test", "id_test:0", 0), ("id_test", "id_test:0", 1), ("ood_test", "ood_test:4", 0),
        ("ood_test", "ood_test:4", 1), ("ood_test", "ood_test:4", 2)]
    assert [r.correct for r in records] == [True, False, True, True, False]
    assert records[1].action == "inventory" and records[1].expert_action == "take shirt"
    assert records[4].action is None and records[4].malformed
    summary = next_action_by_split(records, ["id_test", "ood_test"])
    assert summary["id_test"] == {"states": 2, "accuracy": 0.5, "malformed_rate": 0.0,
                                  "truncated_rate": 0.0}
    assert summary["ood_test"]["accuracy"] == pytest.approx(2 / 3)
    assert summary["ood_test"]["malformed_rate"] == pytest.approx(1 / 3)
    assert summary["states"] == 5 and summary["accuracy"] == pytest.approx(3 / 5)  # all splits
    assert next_action_records(None, tokenizer, {"id_test": []}, AgentSettings()) == []


def test_prompts_sharing_their_start_decode_the_same_with_the_prefix_encoded_once(tiny_model,
                                                                                  monkeypatch):
    from actrain.prompts import actor_prompt
    from actrain.runtime import generation
    from actrain.runtime.generation import generate

    model, tokenizer = tiny_model
    prompts = [actor_prompt(tokenizer, f"Task: tidy up\nCurrent observation: {text}", False)
               for text in ("a room", "a long corridor with a door to the north and a window",
                            "the kitchen, where a fridge stands", "x")]
    kwargs = dict(max_new_tokens=6, temperature=0.0, batch_size=3, stop=["</action>"],
                  progress=False)
    plain = generate(model, tokenizer, prompts, **kwargs)
    alone = []
    real = generation._rows_encoded_alone
    monkeypatch.setattr(generation, "_rows_encoded_alone",
                        lambda *args: alone.append(len(args[2])) or real(*args))
    monkeypatch.setattr(generation, "ROWS_ALONE_PADDING", -1.0)  # every row on its own
    assert generate(model, tokenizer, prompts, common_prefix=True, **kwargs) == plain
    assert alone == [3]  # the batch of three; the batch of one has nothing to share
    # one prompt is all shared start but its last token
    nested = [prompts[1], prompts[1] + " and then a few more words"]
    assert generate(model, tokenizer, nested, common_prefix=True, **kwargs) == \
        generate(model, tokenizer, nested, **kwargs)
    # batches that pad little, or caches with sliding windows: the rows' own tokens together
    monkeypatch.setattr(generation, "ROWS_ALONE_PADDING", 1.0)
    assert generate(model, tokenizer, prompts, common_prefix=True, **kwargs) == plain
    monkeypatch.setattr(generation, "ROWS_ALONE_PADDING", -1.0)
    monkeypatch.setattr(generation, "_plain_layers", lambda cache: False)
    alone.clear()
    assert generate(model, tokenizer, prompts, common_prefix=True, **kwargs) == plain
    assert alone == []


def test_the_common_prefix_is_left_alone_where_it_cannot_pay():
    from actrain.runtime.generation import MIN_COMMON_PREFIX, _common_prefix_len

    ids = torch.tensor([[0, 0, *range(1, 13)], [*range(1, 11), 50, 51, 52, 53]])
    mask = torch.tensor([[0, 0] + [1] * 12, [1] * 14])
    assert _common_prefix_len({"input_ids": ids, "attention_mask": mask}) == 10
    assert _common_prefix_len({"input_ids": ids[:1], "attention_mask": mask[:1]}) == 0  # one row
    short = {"input_ids": ids[:, -MIN_COMMON_PREFIX:], "attention_mask": mask[:, -MIN_COMMON_PREFIX:]}
    assert _common_prefix_len(short) == 0
    same = torch.tensor([[1, 2, 3] * 4, [1, 2, 3] * 4])  # identical rows: one token each is left
    assert _common_prefix_len({"input_ids": same, "attention_mask": torch.ones_like(same)}) == 11
    right = torch.tensor([[1] * 12 + [0, 0], [1] * 14])  # right padding: not handled
    assert _common_prefix_len({"input_ids": ids, "attention_mask": right}) == 0


def _config(tmp_path, *overrides):
    return load_config(None, [f"runs_dir={tmp_path}", "name=r", "model=tiny-random",
                              "dtype=float32", "device=cpu", "data.train_tasks=2",
                              "data.eval_tasks=2", *overrides])


def test_collect_gathers_at_least_the_asked_states_of_each_split_in_task_order(tmp_path, caplog):
    from actrain.envs import from_config
    from actrain.run.pipeline import Pipeline

    pipeline = Pipeline(_config(tmp_path, "rollout.next_action_states=20"), ["il"])
    pipeline.collect()
    assert not pipeline.layout.next_action_traj("id_test").exists()  # a step of its own
    pipeline.next_action_states()
    with from_config(pipeline.config.env) as env:
        order = {split: env.expert_tasks(split) for split in ("id_test", "ood_test")}
    for split in ("id_test", "ood_test"):
        records = read_jsonl(pipeline.layout.next_action_traj(split))
        steps = [len(r["steps"]) for r in records]
        assert sum(steps) >= 20 and sum(steps[:-1]) < 20  # stops as soon as it has enough
        assert [r["task"] for r in records] == order[split][: len(records)]  # the split's order
        assert all(r["won"] for r in records)
    stats = read_json(tmp_path / "r" / "trajectories" / "next_action_stats.json")
    assert stats["id_test"]["states"] >= 20
    assert "next-action states" in read_json(tmp_path / "r" / "stages.json")
    with caplog.at_level("INFO", logger="actrain"):
        again = Pipeline(_config(tmp_path, "rollout.next_action_states=20"), ["il"])
        again.collect()
        again.next_action_states()
    assert sum("skipped" in m for m in caplog.messages) == 2  # collect, next-action states
    off = Pipeline(_config(tmp_path / "off", "rollout.next_action_states=0"), ["il"])
    off.collect()
    off.next_action_states()
    assert not off.layout.next_action_traj("id_test").exists()


def test_the_agent_key_keeps_earlier_runs_at_the_default_and_follows_any_other_count(tmp_path):
    from actrain.run.keys import RunKeys

    def key(*overrides):
        return RunKeys(_config(tmp_path, *overrides)).agent_key(0, ("il",))

    assert key() == key("rollout.next_action_states=500")
    assert len({key(), key("rollout.next_action_states=0"),
                key("rollout.next_action_states=100")}) == 3


def test_an_agent_is_measured_state_by_state_on_every_split(tmp_path, caplog):
    from actrain.run.pipeline import Pipeline

    config = _config(tmp_path, "rollout.next_action_states=3", "rollout.episodes=1",
                     "rollout.max_steps=1", "rollout.max_new_tokens=3")
    pipeline = Pipeline(config, ["prompt"])
    with pytest.raises(ActrainError, match="the collect step gathers them"):
        pipeline.evaluate_agent(0, ())
    pipeline.next_action_states()
    pipeline.evaluate_agent(0, ())
    agent = pipeline.layout.agent_id(0, ())
    summary = read_json(pipeline.layout.agent_file(agent))
    records = read_jsonl(pipeline.layout.next_action_file(agent))
    for split in ("id_test", "ood_test"):
        mine = [r for r in records if r["split"] == split]
        states = sum(len(t["steps"]) for t in read_jsonl(pipeline.layout.next_action_traj(split)))
        assert len(mine) == states >= 3
        assert summary["next_action"][split]["states"] == states
        assert summary["next_action"][split]["accuracy"] == sum(r["correct"] for r in mine) / states
    assert set(records[0]) >= {"split", "task", "step", "expert_action", "action", "correct"}
    assert summary["next_action"]["states"] == len(records)
    # an agent measured before the per-state file existed is measured again
    pipeline.layout.next_action_file(agent).unlink()
    with caplog.at_level("INFO", logger="actrain"):
        pipeline.evaluate_agent(0, ())
    assert pipeline.layout.next_action_file(agent).exists()
    assert not any("skipped" in m for m in caplog.messages)


def test_results_pair_the_methods_over_the_same_states_and_tasks(tmp_path):
    from actrain.run.pipeline import Pipeline

    pipeline = Pipeline(_config(tmp_path), ["il", "act_il"], [0, 1])

    def states(right: int) -> list[dict]:
        return [{"split": split, "task": f"{split}:{i}", "step": 0, "expert_action": "look",
                 "action": "look" if i < right else "wait", "correct": i < right}
                for split in ("id_test", "ood_test") for i in range(40)]

    def plays(won: int) -> list[dict]:
        return [{"split": "id_test", "task": f"id_test:{i}", "won": i < won, "score": 0.0,
                 "steps": 1, "invalid_actions": 0, "malformed": 0, "hit_max_steps": False}
                for i in range(4)]

    split = {"episodes": 4, "success_rate": 0.5, "mean_score": 0.0, "mean_steps": 1.0,
             "invalid_action_rate": 0.0, "malformed_rate": 0.0, "hit_max_steps": 0}
    for prefix, right in ((("il",), 10), (("act", "il"), 30)):
        for seed in (0, 1):
            agent = pipeline.layout.agent_id(seed, prefix)
            write_json(pipeline.layout.agent_file(agent), {"id_test": split, "ood_test": split})
            write_jsonl(pipeline.layout.next_action_file(agent), states(right + seed))
            write_jsonl(pipeline.layout.dir / "agent" / f"{agent}.episodes.jsonl", plays(2))
    results = pipeline.results()
    rows = {row["split"]: row for row in results["paired"]}
    assert set(rows) == {"id_test", "ood_test"} and rows["id_test"]["label"] == "ACT->IL over IL"
    assert rows["id_test"]["next_action"]["diff"] == pytest.approx(0.5)
    assert rows["id_test"]["next_action"]["low"] > 0 and rows["id_test"]["next_action"]["units"] == 40
    assert rows["id_test"]["success"]["diff"] == 0.0 and rows["ood_test"]["success"] is None


def test_eval_agent_takes_held_out_states_by_split(tokenizer, monkeypatch, tmp_path):
    import actrain.eval.next_action as next_action
    import actrain.eval.rollouts as rollouts

    def played(model, tok, make_env, tasks, *args, **kwargs):
        return [EpisodeRecord(task=t, won=False, score=0.0, steps=1, invalid_actions=0,
                              malformed=0, hit_max_steps=True, transcript=[])
                for t in tasks], {}

    monkeypatch.setattr(rollouts, "run_episodes", played)
    monkeypatch.setattr(next_action, "generate",
                        lambda model, tok, prompts, **k: [["take shirt</action>"] for _ in prompts])
    config = _config(tmp_path, "rollout.splits=[id_test]", "rollout.episodes=1")
    summary, _ = rollouts.evaluate_agent(
        None, tokenizer, config, 0, heldout={"id_test": [_trajectory("id_test:0", ["take shirt"])]})
    assert summary["next_action"]["id_test"]["accuracy"] == 1.0
    flat, _ = rollouts.evaluate_agent(None, tokenizer, config, 0,
                                      heldout=[_trajectory("id_test:0", ["take shirt"])])
    assert flat["next_action"] == {"states": 1, "accuracy": 1.0, "malformed_rate": 0.0,
                                   "truncated_rate": 0.0}


def test_an_agent_can_be_measured_on_next_actions_alone(tmp_path, caplog):
    from actrain.run.pipeline import Pipeline

    config = _config(tmp_path, "rollout.next_action_states=3", "rollout.episodes=0",
                     "rollout.max_new_tokens=3", "compare.methods=[prompt]")
    pipeline = Pipeline(config, ["prompt"])
    pipeline.collect()
    pipeline.next_action_states()
    with caplog.at_level("INFO", logger="actrain"):
        pipeline.evaluate_agent(0, ())
    summary = read_json(pipeline.layout.agent_file(pipeline.layout.agent_id(0, ())))
    assert summary["id_test"]["episodes"] == 0 and "success_rate" not in summary["id_test"]
    assert summary["next_action"]["ood_test"]["states"] >= 3
    assert any("id_test next action" in m for m in caplog.messages)
    report = pipeline.layout.dir / "report.md"
    pipeline.report()
    assert "next-action" in report.read_text()
