"""Oracle-verified alternatives: a pair stays only when its alternative is really worse."""

import pytest
from helpers.trajectories import expert_path

import actrain
from actrain.data.verify import keep_verified_worse, plan_length_after
from actrain.envs.base import StepResult, TextEnv
from actrain.errors import ActrainError


class Corridor(TextEnv):
    """Walk east to the goal at 3; 'west' moves back, 'wait' stays, 'jump' loses."""

    def tasks(self, split):
        return ["t"]

    def reset(self, task):
        self.at, self.over = 0, False
        return StepResult("start")

    def step(self, action):
        if action == "jump":
            self.over = True
            return StepResult("you fall", done=True, info={"won": False})
        self.at += {"east": 1, "west": -1}.get(action, 0)
        won = self.at >= 3
        return StepResult(f"at {self.at}", done=won, info={"won": won})

    def admissible_actions(self):
        return ["east", "west", "wait", "jump", "look"]

    def expert_actions(self, task):
        return ["east"] * 3

    def oracle_actions(self):
        return ["east"] * (3 - self.at) if self.at < 3 else ["west"] * 0


def _pair(step, alternative, expert_first=True):
    return actrain.pair("", "o", "east", alternative, expert_first=expert_first, task="t",
                        step=step)


def test_only_alternatives_the_oracle_finds_worse_are_kept():
    env = Corridor()
    trajectories = [expert_path("t", ["east"] * 3)]
    pairs = [_pair(1, "west"), _pair(1, "west", False), _pair(0, "wait"), _pair(2, "jump")]
    kept, counts = keep_verified_worse(env, pairs, trajectories)
    assert kept == pairs  # west and wait leave a longer plan; jump loses the game
    assert counts == {"verified_worse": 3, "as_good_as_expert": 0, "check": "oracle"}


def test_an_alternative_as_good_as_the_expert_is_dropped_and_counted():
    class TwoWays(Corridor):
        def step(self, action):  # 'run' is another name for east
            return super().step("east" if action == "run" else action)

    kept, counts = keep_verified_worse(
        TwoWays(), [_pair(0, "run"), _pair(0, "look")],
        [expert_path("t", ["east"] * 3)],
    )
    assert [p.alternative for p in kept] == ["look"]
    assert counts == {"verified_worse": 1, "as_good_as_expert": 1, "check": "oracle"}


def test_the_prefix_is_what_was_taken_and_a_win_needs_no_plan():
    env = Corridor()
    assert plan_length_after(env, "t", ["east", "east"], "east") == 0.0
    assert plan_length_after(env, "t", ["east", "west"], "east") == 2.0


def test_an_environment_without_oracle_is_a_clear_error():
    class Blind(Corridor):
        def oracle_actions(self):
            return None

    with pytest.raises(ActrainError, match="no oracle"):
        plan_length_after(Blind(), "t", [], "east")
