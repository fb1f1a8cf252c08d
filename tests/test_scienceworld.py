"""The ScienceWorld adapter against the real package (needs Java 17)."""

from __future__ import annotations

import sys
import time

import pytest

pytest.importorskip("scienceworld", reason="ScienceWorld not installed: pip install 'actrain[scienceworld]'")

from actrain.data.trajectories import collect_expert_trajectory, collect_many  # noqa: E402
from actrain.envs import make  # noqa: E402
from actrain.envs.scienceworld import (  # noqa: E402
    DEFAULT_OOD_TASKS,
    ScienceWorldTextEnv,
    filter_admissible,
)
from actrain.errors import ActrainError  # noqa: E402


@pytest.fixture(scope="module")
def sw_env():
    env = make("scienceworld/tasks")
    yield env
    env.close()


def _gold_paths_score_100(names: list[str]) -> None:
    records = collect_many(lambda: make("scienceworld/tasks"), [f"{n}:0" for n in names], workers=2)
    scores = {r["task"]: r["score"] for r in records}
    assert scores == {f"{n}:0": 100.0 for n in names}
    assert all(r["won"] and r["steps"] for r in records)


# Short gold paths (5-24 steps) across kinds of task, 3 of them OOD; the 30 paths together are
# about 1,300 steps and take 4.5 minutes here.
SAMPLE_TASKS = ("find-animal", "power-component", "test-conductivity", "use-thermometer",
                "lifespan-longest-lived", "find-non-living-thing",
                "test-conductivity-of-unknown-substances", "chemistry-mix-paint-tertiary-color")


def test_gold_path_of_variation_0_scores_100_on_a_sample_of_tasks(sw_env):
    """8 of the 30 tasks, two JVMs in parallel: the expert data the pipeline trains on is
    sound. All 30: `make test-slow`."""
    assert set(SAMPLE_TASKS) <= set(sw_env.train_tasks + sw_env.ood_tasks)
    assert len(set(SAMPLE_TASKS) & set(sw_env.ood_tasks)) == 3
    _gold_paths_score_100(list(SAMPLE_TASKS))


@pytest.mark.slow
def test_gold_path_of_variation_0_of_every_task_scores_100(sw_env):
    """All 30 tasks, two JVMs in parallel."""
    names = sorted(sw_env.train_tasks + sw_env.ood_tasks)
    assert len(names) == 30
    _gold_paths_score_100(names)


def test_splits_interleave_tasks_and_keep_folds_apart(sw_env):
    train, id_test, ood = (sw_env.tasks(s) for s in ("train", "id_test", "ood_test"))
    names = lambda tasks: {t.rsplit(":", 1)[0] for t in tasks}  # noqa: E731
    assert names(ood) == set(DEFAULT_OOD_TASKS)
    assert not names(train) & names(ood)
    assert names(id_test) == names(train)
    assert not set(train) & set(id_test)
    # The first tasks of a split cover different ScienceWorld tasks, not one task's variations.
    assert len(names(train[:10])) == 10


def test_configurable_task_lists_and_unknown_task(sw_env):
    env = make("scienceworld/tasks", train_tasks=["find-animal"], ood_tasks=["find-plant"])
    try:
        assert {t.split(":")[0] for t in env.tasks("train")} == {"find-animal"}
        assert {t.split(":")[0] for t in env.tasks("ood_test")} == {"find-plant"}
    finally:
        env.close()
    with pytest.raises(ActrainError, match="unknown ScienceWorld task"):
        make("scienceworld/tasks", ood_tasks=["time-travel"])


def test_expert_state_fields_and_score_scale(sw_env):
    record = collect_expert_trajectory(sw_env, "find-animal:0")
    assert record["won"] and record["score"] == 100.0
    assert record["task_description"].startswith("Your task is to find a(n) animal")
    first = record["steps"][0]
    assert first["observation"].startswith("This room is called")
    assert first["admissible"] == sorted(first["admissible"])


def test_admissible_filter_drops_junk():
    raw = ["connect banana to sink", "move apple to table", "focus on agent",
           "pick up substance called air", "reset task", "open door to kitchen"]
    assert filter_admissible(raw, "find-animal") == sorted(
        ["move apple to table", "open door to kitchen", "look around", "inventory",
         "wait", "wait1", "task"])
    assert "connect banana to sink" in filter_admissible(raw, "power-component")


def test_bad_action_is_a_step_and_a_wrong_focus_loses(sw_env):
    sw_env.reset("find-animal:0")
    result = sw_env.step("fly to the moon")
    assert not result.done and not result.info["won"]
    result = sw_env.step("focus on picture")  # focusing on the wrong thing fails the task
    assert result.done and result.info["lost"] and not result.info["won"]
    assert result.info["score"] == 0.0 and result.info["score_raw"] < 0


def test_a_failed_task_scores_0_with_the_package_score_kept_raw():
    env = ScienceWorldTextEnv.__new__(ScienceWorldTextEnv)  # no JVM: only the score mapping
    for raw, score in ((-100, 0.0), (0, 0.0), (35, 35.0), (100, 100.0)):
        env._infos = {"score": raw, "taskDesc": "Task Description: Find an animal."}
        info = env._result("You focus on the picture.", 0.0, raw < 0).info
        assert (info["score"], info["score_raw"]) == (score, float(raw))
        assert info["lost"] == (raw < 0) and info["won"] == (raw >= 100)


def test_branch_by_reset_and_replay_reproduces_state(sw_env):
    expert = sw_env.expert_actions("find-plant:0")
    first = sw_env.replay("find-plant:0", expert[:3])
    actions_there = sw_env.admissible_actions()
    sw_env.step("inventory")
    again = sw_env.replay("find-plant:0", expert[:3])
    assert first.observation == again.observation
    assert sw_env.admissible_actions() == actions_there


def test_dead_jvm_is_restarted_and_the_episode_replayed():
    env = make("scienceworld/tasks")
    try:
        env.reset("boil:0")
        env.step("open door to kitchen")
        expected = env.replay("boil:0", ["open door to kitchen", "go to kitchen"]).observation
        env.reset("boil:0")
        env.step("open door to kitchen")
        env._env._gateway.java_process.kill()
        time.sleep(0.5)
        result = env.step("go to kitchen")  # needs the door opened before the crash
        assert result.observation == expected
    finally:
        env.close()


def test_bad_task_id(sw_env):
    with pytest.raises(ActrainError, match="task id"):
        sw_env.reset("boil")


def test_missing_package_names_the_extra(monkeypatch):
    import actrain.envs.scienceworld as sw

    monkeypatch.setitem(sys.modules, "scienceworld", None)
    with pytest.raises(ActrainError, match=r"pip install 'actrain\[scienceworld\]'"):
        sw._import_scienceworld()


def test_missing_java_is_one_clear_line(monkeypatch):
    import actrain.envs.base as base

    monkeypatch.setattr(base.shutil, "which", lambda _: None)
    with pytest.raises(ActrainError, match="Java 17"):
        make("scienceworld/tasks")


def test_doors_are_named_and_refusals_are_reported(sw_env):
    sw_env.reset("find-animal:0")
    actions = sw_env.admissible_actions()
    assert "open door" not in actions  # the package's ambiguous form
    assert {"open door to kitchen", "go to kitchen"} <= set(actions)
    assert sw_env.step("open door to kitchen").info["rejected"] is False
    assert sw_env.step("open door").info["rejected"] is True  # "Ambiguous request: ..."
    assert sw_env.step("fly to the moon").info["rejected"] is True


def test_rollouts_trust_the_games_refusal_over_the_admissible_list(sw_env):
    from actrain.eval.agent_settings import AgentSettings
    from actrain.eval.rollouts import _start, _step

    episode = _start(sw_env, "find-animal:0")
    _step(sw_env, episode, "open door to art studio</action>", AgentSettings())
    assert "examine picture" not in sw_env.admissible_actions()
    _step(sw_env, episode, "examine picture</action>", AgentSettings())  # accepted, not listed
    _step(sw_env, episode, "fly to the moon</action>", AgentSettings())  # refused
    assert [t["valid"] for t in episode.transcript] == [True, True, False]
    assert episode.invalid_actions == 1


def test_an_ambiguous_request_is_cancelled_so_the_next_action_counts(sw_env):
    sw_env.reset("find-animal:0")
    ambiguous = sw_env.step("open door")
    assert ambiguous.observation.startswith("Ambiguous request") and ambiguous.info["rejected"]
    after = sw_env.step("look around")  # answered, not swallowed as a choice number
    assert after.observation.startswith("This room is called") and not after.info["rejected"]
