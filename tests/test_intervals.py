"""Paired differences with bootstrap intervals over seeds and states (`actrain.eval.intervals`)."""

import numpy as np
import pytest

from actrain.eval.intervals import (
    bootstrap_interval,
    excludes_zero,
    next_action_values,
    paired_comparisons,
    paired_difference,
    success_values,
)
from actrain.records import EpisodeRecord, NextActionRecord


def _values(per_seed: dict[int, list[float]]) -> dict:
    return {seed: {("t", i): v for i, v in enumerate(values)} for seed, values in per_seed.items()}


def test_identical_methods_differ_by_exactly_nothing():
    a = _values({0: [1, 0, 1, 1], 1: [0, 0, 1, 0]})
    result = paired_difference(a, a)
    assert result["diff"] == 0.0 and result["low"] == 0.0 and result["high"] == 0.0
    assert result["units"] == 4 and result["seeds"] == ["0", "1"] and result["resamples"] == 2000
    assert not excludes_zero(result)


def test_a_clear_gain_on_many_states_excludes_zero_and_holds_the_mean():
    rng = np.random.default_rng(1)
    b = {s: list(rng.integers(0, 2, 400)) for s in range(3)}
    a = {s: [1] * 400 for s in range(3)}  # right wherever b is, and more
    result = paired_difference(_values(a), _values(b))
    mean = 1 - np.mean([np.mean(v) for v in b.values()])
    assert result["diff"] == pytest.approx(mean)
    assert 0 < result["low"] < result["diff"] < result["high"]
    assert excludes_zero(result)
    # the same difference with the sign turned
    assert excludes_zero(paired_difference(_values(b), _values(a)))


def test_the_interval_is_seeded_and_deterministic():
    rng = np.random.default_rng(2)
    a = _values({s: list(rng.random(50)) for s in range(2)})  # values of any kind, not only 0/1
    b = _values({s: list(rng.random(50)) for s in range(2)})
    assert paired_difference(a, b, seed=7) == paired_difference(a, b, seed=7)
    assert paired_difference(a, b, seed=7)["low"] != paired_difference(a, b, seed=8)["low"]


def test_only_the_seeds_and_states_both_methods_have_are_compared():
    a = _values({0: [1, 1, 1], 1: [1, 1, 1], 2: [1, 1, 1]})
    b = _values({0: [0, 0], 1: [1, 1]})  # no seed 2; state 2 missing
    result = paired_difference(a, b)
    assert result["seeds"] == ["0", "1"] and result["units"] == 2
    assert result["diff"] == pytest.approx(0.5)
    assert paired_difference(a, {}) is None
    assert paired_difference(_values({0: [1]}), {0: {("other", 0): 1.0}}) is None


def test_seeds_that_disagree_widen_the_interval_past_zero():
    """Every state says A is better on seed 0 and worse on seed 1: resampling states alone
    would call either seed certain; resampling seeds as well sees that they disagree."""
    a = _values({0: [1] * 200, 1: [0] * 200})
    b = _values({0: [0] * 200, 1: [1] * 200})
    result = paired_difference(a, b)
    assert result["diff"] == 0.0 and result["low"] == pytest.approx(-1.0)
    assert result["high"] == pytest.approx(1.0)
    one_seed = paired_difference({0: a[0]}, {0: b[0]})
    assert one_seed["low"] == one_seed["high"] == 1.0  # a certainty only within the one seed


def test_more_states_give_a_narrower_interval():
    rng = np.random.default_rng(3)

    def width(n: int) -> float:
        diffs = rng.integers(-1, 2, size=(3, n))
        low, high = bootstrap_interval(diffs)
        return high - low

    assert width(2000) < width(50) / 3


def test_the_bootstrap_resamples_seeds_and_states_jointly():
    """Against a direct two-level resampling loop: the same spread."""
    rng = np.random.default_rng(4)
    diffs = rng.integers(-1, 2, size=(3, 60)).astype(float)
    low, high = bootstrap_interval(diffs, resamples=4000)
    draws = np.random.default_rng(5)
    means = []
    for _ in range(4000):
        rows = draws.integers(0, 3, 3)
        cols = draws.integers(0, 60, 60)
        means.append(diffs[np.ix_(rows, cols)].mean())
    ref_low, ref_high = np.quantile(means, [0.025, 0.975])
    assert low == pytest.approx(ref_low, abs=0.03) and high == pytest.approx(ref_high, abs=0.03)


def _state(split: str, task: str, step: int, correct: bool) -> NextActionRecord:
    return NextActionRecord(split=split, task=task, step=step, expert_action="look",
                            action="look" if correct else "wait", correct=correct)


def _play(split: str, task: str, won: bool) -> EpisodeRecord:
    return EpisodeRecord(task=task, won=won, steps=1, split=split)


def test_records_become_values_keyed_by_state_and_by_play():
    states = next_action_values([
        _state("id_test", "a", 0, True), _state("id_test", "a", 1, False),
        _state("ood_test", "b", 0, True),
    ])
    assert states == {"id_test": {("a", 0): 1.0, ("a", 1): 0.0}, "ood_test": {("b", 0): 1.0}}
    plays = success_values([_play("id_test", "a", True), _play("id_test", "a", False),
                            _play("id_test", "b", False)])
    assert plays == {"id_test": {("a", 0): 1.0, ("a", 1): 0.0, ("b", 0): 0.0}}


def test_paired_comparisons_per_gain_and_split():
    def states(correct: list[bool], split: str = "id_test") -> list[NextActionRecord]:
        return [_state(split, f"t{i // 2}", i % 2, c) for i, c in enumerate(correct)]

    def plays(won: list[bool]) -> list[EpisodeRecord]:
        return [_play("id_test", f"t{i}", w) for i, w in enumerate(won)]

    next_action = {"act_il": {"0": states([True] * 8), "1": states([True] * 8)},
                   "il": {"0": states([False] * 8), "1": states([True, False] * 4)}}
    episodes = {"act_il": {"0": plays([True, False]), "1": plays([True, False])},
                "il": {"0": plays([True, False]), "1": plays([True, False])}}
    gains = [("act_il", "il", "ACT->IL over IL"), ("act_il_rl", "il_rl", "absent")]
    rows = paired_comparisons(next_action, episodes, gains, ["id_test", "ood_test"])
    assert len(rows) == 1  # ood_test has neither states nor episodes; the other gain is absent
    row = rows[0]
    assert (row["a"], row["b"], row["split"]) == ("act_il", "il", "id_test")
    assert row["next_action"]["diff"] == pytest.approx(0.75)
    assert row["next_action"]["units"] == 8 and row["next_action"]["seeds"] == ["0", "1"]
    assert row["success"]["diff"] == 0.0 and row["success"]["units"] == 2
    assert excludes_zero(row["next_action"]) and not excludes_zero(row["success"])
