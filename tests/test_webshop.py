"""The WebShop adapter.

WebShop itself (its `web_agent_site` package and product data) cannot be installed on this
machine, so these tests drive the adapter through a stand-in that follows `WebAgentTextEnv`'s
documented interface (reset(session) -> (obs, None); step("search[..]"/"click[..]") ->
(obs, reward, done, None); get_available_actions(); instruction_text; server.goals). They check
the adapter's own logic; nothing here claims WebShop was run.
"""

from __future__ import annotations

import json
import sys

import pytest

from actrain.envs import make
from actrain.envs.webshop import WebShopTextEnv, _import_webshop
from actrain.errors import ActrainError


class StandInWebAgentTextEnv:
    """Three pages: search -> results -> item; "buy now" on the item ends with a reward."""

    def __init__(self, goals: int = 2000, reward: float = 1.0) -> None:
        self.server = type("Server", (), {"goals": [{}] * goals})()
        self.reward = reward
        self.page = "search"
        self.instruction_text = ""

    def reset(self, session=None):
        self.page = "search"
        self.instruction_text = f"i need goal number {session}"
        return f"WebShop [SEP] Instruction: [SEP] {self.instruction_text} [SEP] Search", None

    def get_available_actions(self):
        clickables = {"search": ["search"], "results": ["back to search", "b0001", "b0002"],
                      "item": ["back to search", "buy now", "red"]}[self.page]
        return {"has_search_bar": self.page == "search", "clickables": clickables}

    def step(self, action):
        if action.startswith("search[") and self.page == "search":
            self.page = "results"
        elif action == "click[b0001]" and self.page == "results":
            self.page = "item"
        elif action == "click[buy now]" and self.page == "item":
            return "Thank you for shopping with us!", self.reward, True, None
        return f"page: {self.page}", 0.0, False, None


def test_missing_webshop_names_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "web_agent_site", None)
    monkeypatch.setitem(sys.modules, "web_agent_site.envs", None)
    monkeypatch.setitem(sys.modules, "web_agent_site.envs.web_agent_text_env", None)
    with pytest.raises(ActrainError, match="princeton-nlp/WebShop"):
        _import_webshop()
    with pytest.raises(ActrainError, match="WebShop is not installed"):
        make("webshop/text")


def test_splits_follow_webshops_goal_ranges():
    env = WebShopTextEnv(backend=StandInWebAgentTextEnv(goals=1600))
    assert env.tasks("id_test") == [f"goal:{i}" for i in range(500)]
    assert env.tasks("train") == [f"goal:{i}" for i in range(1500, 1600)]
    assert env.tasks("ood_test") == []
    with pytest.raises(ActrainError, match="task id"):
        env.reset("session-3")


@pytest.mark.parametrize(("reward", "won"), [(1.0, True), (0.5, False)])
def test_purchase_reward_is_score_and_full_reward_is_success(reward, won):
    env = WebShopTextEnv(backend=StandInWebAgentTextEnv(reward=reward))
    first = env.reset("goal:7")
    assert first.info == {"won": False, "score": 0.0, "task_description": "i need goal number 7"}
    assert env.admissible_actions() == []  # the search page takes any search[...]
    env.step("search[red shoes]")
    assert env.admissible_actions() == ["click[b0001]", "click[b0002]", "click[back to search]"]
    env.step("click[b0001]")
    result = env.step("click[buy now]")
    assert result.done and result.info["won"] is won and result.info["score"] == 100 * reward
    after = env.step("click[red]")  # the episode is over: no further reward, still done
    assert after.done and after.reward == 0.0 and after.info["score"] == 100 * reward


def test_invalid_action_is_a_step():
    env = WebShopTextEnv(backend=StandInWebAgentTextEnv())
    env.reset("goal:1")
    result = env.step("click[nothing here]")
    assert not result.done and result.info["won"] is False


def test_expert_file(tmp_path):
    path = tmp_path / "experts.json"
    demo = ["search[red shoes]", "click[b0001]", "click[buy now]"]
    path.write_text(json.dumps({"3": demo, "goal:1502": demo}))
    env = WebShopTextEnv(backend=StandInWebAgentTextEnv(), expert_file=str(path))
    assert env.tasks("train") == ["goal:1502"]  # only demonstrated training goals
    assert env.expert_actions("goal:3")[-1] == "click[buy now]"
    with pytest.raises(ActrainError, match="no actions for goal:4"):
        env.expert_actions("goal:4")
    from actrain.data.trajectories import collect_expert_trajectory

    record = collect_expert_trajectory(env, "goal:3")
    assert record["won"] and record["score"] == 100.0 and len(record["steps"]) == 3


def test_no_expert_and_bad_expert_files_are_clear(tmp_path):
    env = WebShopTextEnv(backend=StandInWebAgentTextEnv())
    with pytest.raises(ActrainError, match="no built-in expert"):
        env.expert_actions("goal:0")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ActrainError, match="not valid JSON"):
        WebShopTextEnv(backend=StandInWebAgentTextEnv(), expert_file=str(bad))
    with pytest.raises(ActrainError, match="does not exist"):
        WebShopTextEnv(backend=StandInWebAgentTextEnv(), expert_file=str(tmp_path / "none.json"))


def test_instances_share_one_catalogue(monkeypatch):
    import actrain.envs.webshop as webshop

    built = []

    class Recording(StandInWebAgentTextEnv):
        def __init__(self, observation_mode, num_products, human_goals, server):
            super().__init__()
            if server is not None:
                self.server = server
            built.append(server)

    monkeypatch.setattr(webshop, "_import_webshop", lambda: Recording)
    monkeypatch.setattr(webshop, "_SERVERS", {})
    first, second = WebShopTextEnv(num_products=1000), WebShopTextEnv(num_products=1000)
    assert built[0] is None and built[1] is first._env.server
    assert second._env.server is first._env.server


def test_held_out_collection_takes_the_demonstrated_goals_only(tmp_path):
    """`id_test` lists every test goal (rollouts use them all); expert trajectories exist only
    where a demonstration does, and collecting them used to stop at the first goal without."""
    from actrain.data.trajectories import collect_trajectories

    path = tmp_path / "experts.json"
    demo = ["search[red shoes]", "click[b0001]", "click[buy now]"]
    path.write_text(json.dumps({"3": demo, "7": demo}))
    env = WebShopTextEnv(backend=StandInWebAgentTextEnv(), expert_file=str(path))
    assert len(env.tasks("id_test")) == 500 and env.expert_tasks("id_test") == ["goal:3", "goal:7"]
    stats = collect_trajectories(env, "id_test", 10, tmp_path / "id_test.jsonl")
    assert stats == {"tasks": 2, "kept": 2, "expert_not_won": 0}


def test_the_model_is_told_the_action_syntax_without_starting_webshop():
    """`search[...]` is never admissible (its keywords are free text), so the agent's and the
    judge's prompts carry WebShop's action syntax; reading it needs no WebShop install."""
    from actrain.config.schema import load_config
    from actrain.envs import instructions_of

    text = WebShopTextEnv.instructions()
    assert "search[" in text and "click[" in text
    assert instructions_of(load_config(None, ["env.id=webshop/text"]).env) == text
