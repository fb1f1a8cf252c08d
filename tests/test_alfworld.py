"""The ALFWorld adapter against the real engine (alfworld + TextWorld's PDDL backend).

The games under tests/data/alfworld are tiny, hand-authored ALFWorld game files (ALFWorld's
own domain and grammar, a one-room problem each), one per split, with walkthroughs recorded by
ALFWorld's handcoded expert. They exercise the engine without the ~GB download.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("alfworld", reason="needs the alfworld extra: pip install 'actrain[alfworld]'")
pytest.importorskip("fast_downward", reason="needs textworld[pddl] (fast-downward)")

from actrain.data.trajectories import collect_expert_trajectory  # noqa: E402
from actrain.envs import make  # noqa: E402
from actrain.errors import ActrainError  # noqa: E402

DATA = Path(__file__).parent / "data" / "alfworld"
TRAIN = "json_2.1.1/train/pick_and_place_simple-Apple-None-Fridge-901/trial_T00000000_000001/game.tw-pddl"
SEEN = "json_2.1.1/valid_seen/pick_and_place_simple-Mug-None-CounterTop-902/trial_T00000000_000002/game.tw-pddl"
UNSEEN = "json_2.1.1/valid_unseen/pick_cool_then_place_in_recep-Apple-None-DiningTable-903/trial_T00000000_000003/game.tw-pddl"


@pytest.fixture(scope="module")
def env():
    env = make("alfworld/text", data_dir=DATA)
    yield env
    env.close()


def test_games_are_listed_per_split(env):
    assert env.tasks("train") == [TRAIN]
    assert env.tasks("id_test") == [SEEN]
    assert env.tasks("ood_test") == [UNSEEN]
    with pytest.raises(ActrainError, match="unknown split"):
        env.tasks("valid_seen")


def test_reset_shows_intro_and_goal(env):
    result = env.reset(TRAIN)
    assert result.observation.startswith("-= Welcome to TextWorld, ALFRED! =-")
    assert "a countertop 1, and a fridge 1" in result.observation
    assert result.info["task_description"] == "Your task is to: put a apple in fridge."
    assert result.info["won"] is False and result.info["score"] == 0.0 and not result.done


@pytest.mark.parametrize("expert", ["walkthrough", "handcoded", "planner"])
def test_every_expert_wins_every_game(expert):
    with make("alfworld/text", data_dir=DATA, expert=expert) as env:
        for task in (TRAIN, SEEN, UNSEEN):
            record = collect_expert_trajectory(env, task)
            assert record["won"] and record["score"] == 1.0, (expert, task)
            assert record["steps"][0]["expert_action"] != "look"  # leading no-op dropped
            for step in record["steps"]:  # the expert only takes actions the engine offers
                assert step["expert_action"] in step["admissible"], (expert, task, step)


def test_won_comes_from_the_goal_check(env):
    actions = env.expert_actions(UNSEEN)
    result = env.replay(UNSEEN, actions[:-1])
    assert result.info["won"] is False and not result.done
    result = env.step(actions[-1])
    assert result.info["won"] is True and result.done and result.reward == 1.0
    assert result.observation == "You move the apple 1 to the diningtable 1."


def test_admissible_sorted_and_rejected_action_is_a_step(env):
    env.reset(SEEN)
    actions = env.admissible_actions()
    assert actions == sorted(actions)
    assert {"go to cabinet 1", "go to countertop 1", "help", "inventory", "look"} <= set(actions)
    result = env.step("fly to the moon")
    assert result.observation == "Nothing happens."
    assert not result.done and result.info["won"] is False
    assert env.admissible_actions() == actions
    assert env.step("take mug 1 from cabinet 1").observation == "Nothing happens."  # not yet


def test_branch_by_reset_and_replay_reproduces_state(env):
    expert = env.expert_actions(SEEN)
    first = env.replay(SEEN, expert[:4])
    actions_there = env.admissible_actions()
    assert "move mug 1 to cabinet 1" in actions_there  # holding the mug now
    assert "take mug 1 from cabinet 1" not in actions_there
    env.step("go to countertop 1")  # wander off, then branch back
    again = env.replay(SEEN, expert[:4])
    assert first.observation == again.observation == "You pick up the mug 1 from the cabinet 1."
    assert env.admissible_actions() == actions_there


def test_oracle_plans_from_any_state(env):
    env.reset(UNSEEN)
    env.step("go to fridge 1")  # a detour the expert would not take
    env.step("open fridge 1")
    for _ in range(10):
        plan = env.oracle_actions()
        assert plan and plan[0] in env.admissible_actions()
        result = env.step(plan[0])
        if result.done:
            break
    assert result.info["won"] and env.oracle_actions() == []


def test_bad_task_id(env):
    for task in ("nonsense", "../game.tw-pddl", "json_2.1.1/train/x/y/game.tw-pddl"):
        with pytest.raises(ActrainError, match="task id"):
            env.reset(task)


def test_listing_follows_alfworld_rules(tmp_path):
    """Unsolvable games and movable-receptacle tasks are left out, as ALFWorld's loader does."""
    root = tmp_path / "json_2.1.1"
    shutil.copytree(DATA / "json_2.1.1", root)
    src = root / "train" / "pick_and_place_simple-Apple-None-Fridge-901"
    shutil.copytree(src, root / "train" / "pick_and_place_with_movable_recep-Apple-Bowl-Fridge-9")
    unsolvable = root / "train" / "pick_and_place_simple-Apple-None-Fridge-902" / "trial_T1"
    shutil.copytree(src / "trial_T00000000_000001", unsolvable)
    game = json.loads((unsolvable / "game.tw-pddl").read_text())
    (unsolvable / "game.tw-pddl").write_text(json.dumps({**game, "solvable": False}))
    with make("alfworld/text", data_dir=tmp_path) as env:
        assert env.tasks("train") == [TRAIN]


def test_data_dir_defaults_to_alfworld_data(monkeypatch):
    monkeypatch.setenv("ALFWORLD_DATA", str(DATA))
    with make("alfworld/text") as env:
        assert env.tasks("ood_test") == [UNSEEN]


@pytest.mark.parametrize("use_env_var", [False, True])
def test_missing_data_is_one_clear_line(tmp_path, monkeypatch, use_env_var):
    monkeypatch.setenv("ALFWORLD_DATA", str(tmp_path))
    kwargs = {} if use_env_var else {"data_dir": tmp_path}
    with pytest.raises(ActrainError, match="alfworld-download.*ALFWORLD_DATA") as caught:
        make("alfworld/text", **kwargs)
    assert "\n" not in str(caught.value) and str(tmp_path) in str(caught.value)


def test_missing_package_names_the_extra(monkeypatch):
    import actrain.envs.alfworld as alf

    monkeypatch.setitem(sys.modules, "alfworld.agents.environment.alfred_tw_env", None)
    with pytest.raises(ActrainError, match=r"pip install 'actrain\[alfworld\]'"):
        alf._import_alfworld()
    monkeypatch.undo()
    monkeypatch.setitem(sys.modules, "fast_downward", None)
    with pytest.raises(ActrainError, match=r"fast-downward.*pip install 'actrain\[alfworld\]'"):
        alf._import_alfworld()


def test_module_imports_without_the_package():
    """registered_ids() imports every adapter, so this one must not need alfworld to import."""
    code = (
        "import sys; sys.modules['alfworld'] = sys.modules['textworld'] = None\n"
        "from actrain.envs.base import _REGISTRY\n"
        "import actrain.envs.alfworld\n"
        "assert 'alfworld/text' in _REGISTRY"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_unknown_expert():
    with pytest.raises(ActrainError, match="unknown ALFWorld expert"):
        make("alfworld/text", data_dir=DATA, expert="oracle")


def test_not_thread_safe_so_collection_and_rollouts_step_one_at_a_time(env):
    """The PDDL engine keeps process-wide parsers: threads would corrupt it, so none are used."""
    from actrain.data.trajectories import collect_many

    assert env.thread_safe is False
    tasks = [task for split in ("train", "id_test", "ood_test") for task in env.tasks(split)] * 2
    records = collect_many(lambda: make("alfworld/text", data_dir=DATA), tasks, workers=4)
    assert [r["task"] for r in records] == tasks and all(r["won"] for r in records)


def test_oracle_before_reset_is_a_clear_error():
    with make("alfworld/text", data_dir=DATA) as fresh, pytest.raises(ActrainError, match="reset"):
        fresh.oracle_actions()
