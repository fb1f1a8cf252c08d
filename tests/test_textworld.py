"""The TextWorld cooking adapter and off-path oracle data, against the real package.

Each game is generated once (~1.5 s, plus ~3 s to start the generator process per batch) into a
temporary cache shared by the module, so the file touches only five games.
"""

import random
import subprocess
import sys

import pytest

pytest.importorskip("textworld", reason="TextWorld is optional: pip install 'actrain[textworld]'")

from actrain.config.schema import AlternativeConfig  # noqa: E402
from actrain.data.offpath import (  # noqa: E402
    collect_oracle_trajectories,
    collect_oracle_trajectory,
)
from actrain.data.pairs import build_pairs, expert_states  # noqa: E402
from actrain.data.trajectories import collect_expert_trajectory, load_trajectories  # noqa: E402
from actrain.envs import make  # noqa: E402
from actrain.envs.base import StepResult, TextEnv  # noqa: E402
from actrain.errors import ActrainError  # noqa: E402
from actrain.records import Pair  # noqa: E402

TRAIN, TRAIN_OTHER, ID_TEST, OOD = "train:0", "train:1", "id_test:100000", "ood_test:200000"


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("tw-cache")


@pytest.fixture(scope="module")
def env(cache):
    env = make("textworld/cooking", cache_dir=cache)
    env.prepare([TRAIN, TRAIN_OTHER, ID_TEST, OOD])  # one generator process for all four
    yield env
    env.close()


def test_missing_package_names_the_extra():
    code = (
        "import sys; sys.modules['textworld'] = None\n"
        "import actrain.envs.textworld  # importing must work without the package\n"
        "from actrain.envs import make\n"
        "try:\n    make('textworld/cooking')\n"
        "except Exception as exc:\n    print(type(exc).__name__, exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == (
        "ActrainError TextWorld is not installed: pip install 'actrain[textworld]'"
    )


def test_generation_is_deterministic_by_seed(env, tmp_path):
    with make("textworld/cooking", cache_dir=tmp_path) as fresh:
        again = fresh.game_file(TRAIN)
    first = env.game_file(TRAIN)
    assert first != again
    for suffix in (".z8", ".json"):  # byte for byte, not only the same walkthrough
        assert first.with_suffix(suffix).read_bytes() == again.with_suffix(suffix).read_bytes()
    other = env.game_file(TRAIN_OTHER)
    assert env.walkthrough(TRAIN) != env.walkthrough(TRAIN_OTHER)
    assert first.read_bytes() != other.read_bytes()


def test_cache_hit_is_reused(env, monkeypatch):
    import actrain.envs.textworld_games as tw

    path = env.game_file(TRAIN)
    stamp = path.stat().st_mtime_ns

    def no_generation(*args, **kwargs):
        raise AssertionError("a cached game was generated again")

    monkeypatch.setattr(tw, "_run_generator", no_generation)
    monkeypatch.setattr(tw, "generate_game_here", no_generation)
    assert env.game_file(TRAIN) == path and path.stat().st_mtime_ns == stamp
    assert env.reset(TRAIN).observation


def test_interrupted_generation_leaves_nothing(env, monkeypatch):
    import textworld.generator
    from textworld.challenges.tw_cooking import cooking

    from actrain.envs.textworld_games import generate_game_here

    def interrupted(game, options):
        with open(options.path, "w") as handle:
            handle.write("half a game")
        raise KeyboardInterrupt

    monkeypatch.setattr(cooking, "make", lambda settings, options: None)
    monkeypatch.setattr(textworld.generator, "compile_game", interrupted)
    target = env.game_dir("train:9")
    with pytest.raises(KeyboardInterrupt):
        generate_game_here(env.settings["train"], 9, target)
    siblings = [p.name for p in target.parent.iterdir()]
    assert "seed9" not in siblings and not [n for n in siblings if n.endswith(".tmp")]


def test_splits_differ_and_ood_is_harder(env):
    train, id_test, ood = (set(env.tasks(s)) for s in ("train", "id_test", "ood_test"))
    seeds = [{task.split(":")[1] for task in tasks} for tasks in (train, id_test, ood)]
    assert not seeds[0] & seeds[1]
    assert env.settings["train"] == env.settings["id_test"] != env.settings["ood_test"]
    assert len(env.expert_actions(OOD)) > len(env.expert_actions(ID_TEST))
    with pytest.raises(ActrainError, match="overlap"):
        make("textworld/cooking", seeds={"id_test": range(5)})


@pytest.mark.parametrize("task", [TRAIN, ID_TEST, OOD])
def test_expert_walkthrough_wins(env, task):
    record = collect_expert_trajectory(env, task)
    assert record.won and record.score == 1.0, (task, record.score)
    assert record.task_description.startswith("You are hungry!")
    first = record.steps[0]
    assert first.observation.startswith("You are hungry!") and "$$" not in first.observation
    assert "\n-= " in first.observation  # the room header; the trailing status line is gone
    assert not record.steps[1].observation.rstrip().endswith(tuple("0123456789"))
    assert first.admissible == sorted(first.admissible)
    assert all(step.expert_action in step.admissible for step in record.steps)


def test_oracle_agrees_with_walkthrough_where_it_can(env):
    """The oracle's plan is never longer than the rest of the walkthrough, and it wins sooner.

    Its first action matches the walkthrough's at only part of the states: the walkthrough
    checks the inventory and reads the cookbook first and puts the knife down between cuts,
    which the oracle's plan skips. The measured agreement is printed (`pytest -s`).
    """
    agree = total = 0
    for task in (TRAIN, TRAIN_OTHER, ID_TEST, OOD):
        walkthrough = env.expert_actions(task)
        env.reset(task)
        for index, action in enumerate(walkthrough):
            plan = env.oracle_actions()
            assert plan and plan[0] in env.admissible_actions(), (task, index)
            assert len(plan) <= len(walkthrough) - index, (task, index, plan)
            agree += plan[0] == action
            total += 1
            result = env.step(action)
        assert result.done and env.oracle_actions() == []
        env.reset(task)
        moves = 0
        while plan := env.oracle_actions():
            result = env.step(plan[0])
            moves += 1
        assert result.info["won"] and moves < len(walkthrough), (task, moves)
    rate = agree / total
    print(f"oracle/walkthrough first-action agreement: {agree}/{total} = {rate:.0%}")
    assert 0.4 < rate < 1.0


def test_offpath_states_make_labelled_pairs(env, tmp_path):
    record = collect_oracle_trajectory(env, TRAIN, explore=0.5, rng=random.Random(0))
    again = collect_oracle_trajectory(env, TRAIN, explore=0.5, rng=random.Random(0))
    assert record == again
    steps = record.steps
    off = [s for s in steps if s.off_path]
    assert off and not steps[0].off_path
    assert any(s.action != s.expert_action for s in steps)
    assert all(s.expert_action in s.admissible for s in steps)

    states = expert_states([record], history_len=1)
    pairs, stats = build_pairs(states, [[]] * len(states), AlternativeConfig(), 0, False)
    assert len(pairs) == len(states) == len(steps) and stats["random_fallback"] == len(pairs)
    off_steps = {i for i, s in enumerate(steps) if s.off_path}
    off_pairs = [p for p in pairs if p.step in off_steps]
    assert off_pairs and all(p.alternative != p.expert_action for p in off_pairs)
    assert {p.label for p in pairs} <= {0, 1}

    path = tmp_path / "offpath.jsonl"
    counts = collect_oracle_trajectories(env, "train", 1, path, explore=0.5, seed=0)
    assert counts["tasks"] == 1 and counts["states"] == len(load_trajectories(path)[0].steps)


def test_env_without_oracle_is_a_clear_error():
    class NoOracle(TextEnv):
        def tasks(self, split):
            return ["t"]

        def reset(self, task):
            return StepResult("start")

        def step(self, action):
            return StepResult("x")

        def admissible_actions(self):
            return ["a"]

        def expert_actions(self, task):
            return ["a"]

    with pytest.raises(ActrainError, match="has no oracle"):
        collect_oracle_trajectory(NoOracle(), "t", 0.3, random.Random(0))


def test_rejected_action_is_a_step(env):
    walkthrough = env.expert_actions(TRAIN)
    env.reset(TRAIN)
    for action in ("fly to the moon", "", "open fridge now please " * 8):
        result = env.step(action)
        assert not result.done and result.info["won"] is False and result.info["score"] == 0.0
        assert result.observation
    for action in walkthrough:
        result = env.step(action)
    assert result.done and result.info["won"]
    after = env.step("look")  # a finished game answers, it does not raise
    assert after.done and after.info["won"] and env.admissible_actions() == []


def test_bad_task_id(env):
    with pytest.raises(ActrainError, match="task id"):
        env.reset("nonsense")


def test_oracle_verifies_alternatives_on_real_games(env):
    from actrain.data.verify import keep_verified_worse

    record = collect_expert_trajectory(env, TRAIN)
    pairs = [
        Pair.make(task=TRAIN, step=i, task_description=record.task_description, history=[],
                  observation=s.observation, context=s.context, admissible=s.admissible or [],
                  expert_action=s.expert_action, alternative="inventory",
                  alternative_source="test", expert_first=True)
        for i, s in enumerate(record.steps)
    ]
    kept, counts = keep_verified_worse(env, pairs, [record])
    assert counts["verified_worse"] + counts["as_good_as_expert"] == len(pairs)
    # "inventory" changes nothing, so it is worse wherever the walkthrough's step shortens the
    # plan; the walkthrough also reads the cookbook, which the plan does not need.
    assert 0 < len(kept) < len(pairs)


def test_context_is_the_room_and_the_inventory(env):
    env.reset(TRAIN)
    context = env.context()
    assert context.startswith("-= ") and "You are carrying" in context
