"""Rollout bookkeeping on the real TextWorldExpress env: won, score, steps, invalid actions."""

import pytest

from actrain.config.schema import RolloutConfig
from actrain.envs import make
from actrain.envs.base import StepResult
from actrain.envs.textworld_express import TextWorldExpressTextEnv
from actrain.eval.agent_settings import AgentSettings
from actrain.eval.rollouts import Episode, _start, _step, run_episodes, summarise
from actrain.records import EpisodeRecord

TASK = "id_test:0"


def _tag(action: str) -> str:
    return f"{action}</action>"  # the tag is prefilled when the actor does not reason


def test_expert_completions_win_and_are_all_valid(twc_env):
    settings = AgentSettings()
    expert = twc_env.expert_actions(TASK)
    episode = _start(twc_env, TASK)
    assert episode.description and episode.admissible
    for action in expert:
        _step(twc_env, episode, _tag(action), settings)
    assert episode.done and episode.won and episode.score > 0
    assert episode.steps == len(expert) and episode.invalid_actions == 0
    record = episode.record(hit_max_steps=False)
    assert [t.action for t in record.transcript] == expert
    assert summarise([record])["success_rate"] == 1.0


def test_malformed_and_rejected_actions_cost_a_step_and_count(twc_env):
    settings = AgentSettings()
    episode = _start(twc_env, TASK)
    before = episode.observation
    _step(twc_env, episode, "I think I should <action>a</action><action>b</action>", settings)
    assert episode.malformed == 1 and episode.invalid_actions == 1 and episode.steps == 1
    assert episode.observation == before  # nothing was sent to the game
    _step(twc_env, episode, _tag("fly to the moon"), settings)
    assert episode.malformed == 1 and episode.invalid_actions == 2 and episode.steps == 2
    assert not episode.done and not episode.won
    assert episode.transcript[1].valid is False


class RaisingEnv(TextWorldExpressTextEnv):
    """The real twc game, except that one action makes the adapter raise (as some do)."""

    def step(self, action):
        if action == "explode":
            raise RuntimeError("engine refused")
        return super().step(action)


def test_an_adapter_that_raises_costs_an_invalid_step_not_a_crash():
    env = RaisingEnv("twc")
    try:
        episode = _start(env, TASK)
        _step(env, episode, _tag("explode"), AgentSettings())
        assert episode.invalid_actions == 1 and episode.steps == 1
        assert "rejected" in episode.transcript[0].observation
    finally:
        env.close()


@pytest.mark.parametrize("parallel", [1, 3])
def test_run_episodes_with_tiny_model_hits_max_steps_as_failures(tiny_model, parallel):
    model, tokenizer = tiny_model
    tasks = ["id_test:0", "id_test:1", "id_test:2", "ood_test:0"]
    settings = AgentSettings(RolloutConfig(max_steps=2, max_new_tokens=4, batch_size=3))
    records, stats = run_episodes(model, tokenizer, lambda: make("twx/twc"), tasks, settings,
                                  parallel_envs=parallel)
    assert [r.task for r in records] == tasks  # input order, whatever finished first
    for record in records:
        assert record.steps == 2 and record.hit_max_steps and not record.won
        assert record["invalid_actions"] == 2  # a random model writes no valid action
    summary = summarise(records)
    assert summary["episodes"] == 4 and summary["success_rate"] == 0.0
    assert summary["invalid_action_rate"] == 1.0 and summary["hit_max_steps"] == 4
    assert stats["turns"] == (8 if parallel == 1 else 4)  # 2 waves of 2 steps with 3 envs
    assert stats["prompt_tokens"] > 0 and stats["generated_tokens"] > 0


def test_per_task_step_limits_and_threaded_stepping(tiny_model):
    model, tokenizer = tiny_model
    tasks = ["id_test:0", "id_test:1", "ood_test:0"]
    settings = AgentSettings(RolloutConfig(max_steps=2, max_steps_by_task={"ood_test": 3},
                                           max_new_tokens=4, batch_size=3))
    serial, _ = run_episodes(model, tokenizer, lambda: make("twx/twc"), tasks, settings)
    threaded, _ = run_episodes(model, tokenizer, lambda: make("twx/twc"), tasks, settings,
                               step_workers=3)
    assert [r.steps for r in serial] == [2, 2, 3]
    strip = lambda records: [(r.task, r.steps, [t.action for t in r.transcript]) for r in records]  # noqa: E731
    assert strip(threaded) == strip(serial)


def test_next_action_accuracy_counts_greedy_actions_equal_to_the_experts(tokenizer, monkeypatch):
    import actrain.eval.next_action as next_action
    from actrain.eval.next_action import next_action_accuracy

    trajectory = {"task": "t:0", "task_description": "tidy up", "steps": [
        {"observation": f"room {i}", "admissible": ["take shirt", "inventory"],
         "expert_action": "Take  Shirt"} for i in range(4)]}
    answers = iter(["take shirt</action>", "inventory</action>", "take\nit", "TAKE SHIRT</action>"])
    seen = {}

    def fake_generate(model, tok, prompts, **kwargs):
        seen.update(kwargs, prompts=prompts)
        return [[next(answers)] for _ in prompts]

    monkeypatch.setattr(next_action, "generate", fake_generate)
    result = next_action_accuracy(None, tokenizer, [trajectory], AgentSettings())
    assert result == {"states": 4, "accuracy": 0.5, "malformed_rate": 0.25, "truncated_rate": 0.0}
    assert seen["temperature"] == 0.0 and all(p.endswith("<action>") for p in seen["prompts"])
    assert next_action_accuracy(None, tokenizer, [], AgentSettings())["accuracy"] is None


def test_cot_methods_roll_out_thinking_with_their_own_token_budget(tmp_path):
    from actrain.config.schema import load_config
    from actrain.eval.agent_settings import agent_settings, protocol
    from actrain.run.pipeline import Pipeline
    from actrain.stages.inputs import method_stages, rollout_reasoning

    config = load_config(None, [f"runs_dir={tmp_path}", "model=tiny-random", "dtype=float32",
                                "rollout.thinking_max_new_tokens=96"])
    assert method_stages("prompt-cot") == () and method_stages("sr-cot") == ("sr",)
    assert rollout_reasoning("prompt-cot") is True and rollout_reasoning("prompt") is None
    assert rollout_reasoning("il-direct") is False and method_stages("il-direct") == ("il",)
    settings = agent_settings(config, 0, thinking=True)
    assert settings.view.reasoning and settings.rollout.max_new_tokens == 96
    assert not agent_settings(config, 0).view.reasoning
    assert protocol(config, thinking=True)["actor_reasoning"] is True
    p = Pipeline(config, ["prompt", "prompt-cot"], [0])
    assert p.layout.agent_id(0, (), True) == "base-cot" and p.layout.agent_id(0, ()) == "base"
    assert p.keys.agent_key(0, (), True) != p.keys.agent_key(0, ())
    # the thinking budget changes only the rollouts that think
    other = Pipeline(load_config(None, [f"runs_dir={tmp_path}", "model=tiny-random",
                                        "dtype=float32"]), ["prompt"], [0])
    assert other.keys.agent_key(0, ()) == p.keys.agent_key(0, ())
    assert other.keys.agent_key(0, (), True) != p.keys.agent_key(0, (), True)


def test_next_action_accuracy_decodes_only_this_processs_states(tokenizer, monkeypatch):
    import actrain.eval.next_action as next_action
    from actrain.eval.next_action import next_action_accuracy
    from actrain.runtime import distributed

    trajectory = {"task": "t:0", "task_description": "tidy up", "steps": [
        {"observation": f"room {i}", "admissible": ["take shirt", "inventory"],
         "expert_action": "take shirt"} for i in range(5)]}
    decoded: list[str] = []

    def fake_generate(model, tok, prompts, **kwargs):
        decoded.extend(prompts)
        return [["take shirt</action>"] for _ in prompts]

    monkeypatch.setattr(next_action, "generate", fake_generate)
    everything = next_action_accuracy(None, tokenizer, [trajectory], AgentSettings())
    prompts = list(decoded)
    assert len(prompts) == 5 and everything["accuracy"] == 1.0
    for rank in range(2):  # a world of two: each rank decodes its share, all get the result
        decoded.clear()
        monkeypatch.setattr(distributed, "world", lambda: 2)
        monkeypatch.setattr(distributed, "rank", lambda rank=rank: rank)
        monkeypatch.setattr(distributed, "gather", lambda local, total: [["take shirt</action>"]]
                            * total)
        assert next_action_accuracy(None, tokenizer, [trajectory], AgentSettings()) == everything
        assert decoded == prompts[rank::2]


def _record(score: float, **extra: float) -> EpisodeRecord:
    return EpisodeRecord(task="t", won=score >= 100, score=score, steps=4, invalid_actions=0,
                         malformed=0, hit_max_steps=False, **extra)


def test_the_mean_score_counts_each_episode_from_0_and_keeps_the_raw_mean():
    # ScienceWorld reports a failed task as -100: an old record holds it as its score, a new
    # one holds 0 with the -100 as score_raw. Either way the episode counts 0 in the mean.
    records = [_record(-100.0), _record(0.0, score_raw=-100.0), _record(100.0), _record(40.0)]
    summary = summarise(records)
    assert summary["mean_score"] == pytest.approx(35.0)  # (0 + 0 + 100 + 40) / 4
    assert summary["mean_score_raw"] == pytest.approx(-15.0)  # (-100 - 100 + 100 + 40) / 4
    assert summarise([_record(0.5)])["mean_score_raw"] == 0.5  # records without a raw score


class _FailingTask:
    """An environment whose one step fails the task, reporting the raw score beside it."""

    def step(self, action: str) -> StepResult:
        return StepResult("You lost.", done=True,
                          info={"won": False, "score": 0.0, "score_raw": -100.0, "lost": True})

    def admissible_actions(self) -> list[str]:
        return []


def test_an_episode_record_keeps_the_raw_score_beside_the_clipped_one():
    episode = Episode("sw:0", "Find an animal.", "You are in the kitchen.", [])
    _step(_FailingTask(), episode, _tag("focus on picture"), AgentSettings())
    record = episode.record(hit_max_steps=False)
    assert record.score == 0.0 and record.score_raw == -100.0
    assert summarise([record])["mean_score_raw"] == -100.0


def test_direct_methods_act_at_once_where_the_run_reasons(tmp_path):
    """`prompt-direct` is the paper's "prompt w/o CoT" row in a run whose agent reasons."""
    from actrain.config.schema import load_config
    from actrain.eval.agent_settings import agent_settings, protocol
    from actrain.run.pipeline import Pipeline

    config = load_config(None, [f"runs_dir={tmp_path}", "model=tiny-random", "dtype=float32",
                                "data.actor_reasoning=true"])
    assert agent_settings(config, 0).view.reasoning  # the run's own: reason first
    direct = agent_settings(config, 0, thinking=False)
    assert not direct.view.reasoning
    assert direct.rollout.max_new_tokens == config.rollout.max_new_tokens
    assert protocol(config, thinking=False)["actor_reasoning"] is False
    p = Pipeline(config, ["prompt", "prompt-direct"], [0])
    assert p.layout.agent_id(0, (), False) == "base-direct" and p.layout.agent_id(0, ()) == "base"
    assert p.keys.agent_key(0, (), False) != p.keys.agent_key(0, ())
