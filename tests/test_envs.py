"""The TextWorldExpress adapter against the real package (needs Java 17)."""

import pytest

from actrain.data.trajectories import collect_expert_trajectory, iter_states
from actrain.envs import make, registered_ids
from actrain.errors import ActrainError


def test_registry_lists_and_rejects():
    assert {"twx/twc", "twx/cookingworld", "scienceworld/tasks", "textworld/cooking",
            "alfworld/text", "webshop/text"} <= set(registered_ids())
    with pytest.raises(ActrainError, match="unknown environment 'nope/x'"):
        make("nope/x")


def test_missing_java_is_one_clear_line(monkeypatch):
    import actrain.envs.base as base

    monkeypatch.setattr(base.shutil, "which", lambda _: None)
    with pytest.raises(ActrainError, match="Java 17"):
        make("twx/twc")


@pytest.mark.parametrize("game", ["twc", "cookingworld"])
def test_expert_path_wins_on_every_sampled_game(game):
    with make(f"twx/{game}") as env:
        for split in ("train", "id_test", "ood_test"):
            for task in env.tasks(split)[:4]:
                record = collect_expert_trajectory(env, task)
                assert record["won"], (task, record["score"])
                assert record["steps"], task


def test_splits_differ_and_ood_is_harder(twc_env):
    train, id_test, ood = (twc_env.tasks(s) for s in ("train", "id_test", "ood_test"))
    assert not set(s.split(":")[1] for s in train) & set(s.split(":")[1] for s in id_test)
    id_len = len(collect_expert_trajectory(twc_env, id_test[0])["steps"])
    ood_len = len(collect_expert_trajectory(twc_env, ood[0])["steps"])
    assert ood_len > id_len


def test_admissible_sorted_and_bad_action_is_a_step(twc_env):
    twc_env.reset("train:3")
    actions = twc_env.admissible_actions()
    assert actions == sorted(actions) and actions
    result = twc_env.step("fly to the moon")
    assert not result.done and result.info["won"] is False


def test_branch_by_reset_and_replay_reproduces_state(twc_env):
    expert = twc_env.expert_actions("train:5")
    first = twc_env.replay("train:5", expert[:2])
    actions_there = twc_env.admissible_actions()
    twc_env.step("inventory")  # wander off, then branch back
    again = twc_env.replay("train:5", expert[:2])
    assert first.observation == again.observation
    assert twc_env.admissible_actions() == actions_there


def test_states_carry_history_window(twc_env):
    record = collect_expert_trajectory(twc_env, "train:1")
    states = list(iter_states(record, history_len=1))
    assert states[0][1].history == ()
    assert states[2][1].history == ((record["steps"][1]["observation"], record["steps"][1]["expert_action"]),)
    assert states[2][2] == record["steps"][2]["expert_action"]


def test_bad_task_id(twc_env):
    with pytest.raises(ActrainError, match="task id"):
        twc_env.reset("nonsense")


def test_trajectories_file_loads_with_datasets(twc_env, tmp_path):
    from datasets import load_dataset

    from actrain.data.trajectories import collect_trajectories

    path = tmp_path / "train.jsonl"
    stats = collect_trajectories(twc_env, "train", 3, path)
    assert stats == {"tasks": 3, "kept": 3, "expert_not_won": 0}
    ds = load_dataset("json", data_files=str(path), split="train")
    assert len(ds) == 3
    assert set(ds.column_names) >= {"task", "task_description", "steps", "won", "score"}
    assert ds[0]["steps"][0]["expert_action"]


def test_missing_package_names_the_extra(monkeypatch):
    import sys

    import actrain.envs.textworld_express as twx

    monkeypatch.setitem(sys.modules, "textworld_express", None)
    with pytest.raises(ActrainError, match=r"pip install 'actrain\[twx\]'"):
        twx._import_twx()


def test_twx_context_is_the_room_and_the_inventory(twc_env):
    from actrain.data.trajectories import collect_expert_trajectory

    task = twc_env.tasks("train")[0]
    record = collect_expert_trajectory(twc_env, task)
    second = record["steps"][1]  # after the first "take": the item is carried
    assert second["context"].startswith("You are in the")
    assert "Inventory:" in second["context"]
    taken = record["steps"][0]["expert_action"].removeprefix("take ")
    assert taken in second["context"].split("Inventory:")[1]


@pytest.mark.parametrize("deterministic, episodes", [(False, 2), (True, 1)])
def test_a_lost_expert_path_is_replayed_only_where_the_env_is_not_deterministic(
    monkeypatch, deterministic, episodes
):
    from types import SimpleNamespace

    from actrain.data import trajectories
    from actrain.records import Trajectory

    outcomes = iter([Trajectory(task="t:0", task_description="", steps=[], won=won, score=score)
                     for won, score in ((False, -100.0), (True, 100.0))])
    played = []
    monkeypatch.setattr(trajectories, "_expert_episode",
                        lambda env, task: played.append(task) or next(outcomes))
    record = collect_expert_trajectory(SimpleNamespace(deterministic=deterministic), "t:0")
    assert len(played) == episodes
    assert record.won is (episodes == 2)


def test_environments_add_no_instructions_unless_they_say_so(monkeypatch):
    """`TextEnv.instructions` is read from the class a registered factory makes, without
    starting it: "" by default (the prompts stay as they are), an adapter's own where it
    overrides it, whether it registered its class or a function annotated with it."""
    from types import SimpleNamespace

    from actrain.envs import TextEnv, instructions_of
    from actrain.envs.base import _REGISTRY

    class Syntax(TextEnv):
        @classmethod
        def instructions(cls) -> str:
            return "Actions are go[n]."

    def build() -> Syntax:
        raise AssertionError("not started")

    for env_id in ("twx/twc", "scienceworld/tasks", "alfworld/text", "textworld/cooking"):
        assert instructions_of(SimpleNamespace(id=env_id, entry_point="")) == ""
    monkeypatch.setitem(_REGISTRY, "test/class", Syntax)
    monkeypatch.setitem(_REGISTRY, "test/function", build)
    monkeypatch.setitem(_REGISTRY, "test/bare", lambda: None)
    for env_id, want in (("test/class", "Actions are go[n]."),
                         ("test/function", "Actions are go[n]."), ("test/bare", "")):
        assert instructions_of(SimpleNamespace(id=env_id, entry_point="")) == want
