from collections import Counter

from actrain.config.schema import AlternativeConfig
from actrain.data.pairs import (
    StateRecord,
    build_pairs,
    filter_candidates,
    random_alternative,
)
from actrain.prompts import State

ADMISSIBLE = ("inventory", "look around", "open wardrobe", "take shirt")


def test_filter_drops_expert_duplicates_malformed_and_inadmissible():
    kept, dropped = filter_candidates(
        [None, "Take  Shirt", "open wardrobe", "OPEN WARDROBE", "dance", "inventory"],
        expert_action="take shirt",
        admissible=ADMISSIBLE,
        admissible_only=True,
        keep=5,
    )
    assert kept == ["open wardrobe", "inventory"]
    assert dropped == {"malformed": 1, "equals_expert": 1, "not_admissible": 1, "duplicate": 1}


def test_filter_keeps_inadmissible_when_allowed_and_caps_count():
    kept, _ = filter_candidates(["dance", "sing", "inventory"], "take shirt", ADMISSIBLE, False, 2)
    assert kept == ["dance", "sing"]


def test_random_alternative_never_returns_expert():
    import random

    rng = random.Random(0)
    for _ in range(50):
        assert random_alternative("take shirt", ADMISSIBLE, rng) != "take shirt"
    assert random_alternative("inventory", ["Inventory"], rng) is None


def _states(n: int) -> list[StateRecord]:
    return [
        StateRecord(f"train:{i}", 0, State("tidy", (), f"room {i}", ADMISSIBLE), "take shirt")
        for i in range(n)
    ]


def test_build_pairs_fallback_counted_only_when_enabled():
    states = _states(3)
    sampled = [["open wardrobe</action>"], ["take shirt</action>"], ["garbage"]]
    pairs, stats = build_pairs(states, sampled, AlternativeConfig(), seed=0, both_orders=False)
    assert stats["from_policy"] == 1 and stats["random_fallback"] == 2
    assert [p["alternative_source"] for p in pairs] == ["policy", "random", "random"]
    pairs, stats = build_pairs(
        states, sampled, AlternativeConfig(random_fallback=False), seed=0, both_orders=False
    )
    assert len(pairs) == 1 and stats["states_without_alternative"] == 2


def test_build_pairs_labels_and_order():
    states = _states(200)
    sampled = [["open wardrobe</action>"]] * 200
    pairs, _ = build_pairs(states, sampled, AlternativeConfig(), seed=1, both_orders=False)
    for p in pairs:
        assert p["actions"][p["label"]] == "take shirt"
        assert p["expert_first"] == (p["label"] == 0)
    share_first = sum(p["expert_first"] for p in pairs) / len(pairs)
    assert 0.4 < share_first < 0.6


def test_build_pairs_both_orders_is_exactly_balanced():
    pairs, _ = build_pairs(_states(7), [["inventory</action>"]] * 7, AlternativeConfig(), 0, True)
    assert Counter(p["expert_first"] for p in pairs) == {True: 7, False: 7}


def test_build_pairs_deterministic_by_seed():
    states, sampled = _states(50), [["bad"]] * 50  # every pair from the seeded fallback
    a, _ = build_pairs(states, sampled, AlternativeConfig(), seed=3, both_orders=False)
    b, _ = build_pairs(states, sampled, AlternativeConfig(), seed=3, both_orders=False)
    c, _ = build_pairs(states, sampled, AlternativeConfig(), seed=4, both_orders=False)
    assert a == b
    assert a != c


# One state each: the first sample is the expert's action, then a valid one; valid at once;
# malformed, then valid; the expert's action every time.
RULE_SAMPLES = [["take shirt</action>", "inventory</action>"],
                ["open wardrobe</action>", "take shirt</action>"],
                ["garbage", "look around</action>"],
                ["take shirt</action>", "Take Shirt</action>"]]


def test_first_valid_rule_keeps_every_state_with_a_valid_sample_among_k():
    pairs, stats = build_pairs(_states(4), RULE_SAMPLES, AlternativeConfig(random_fallback=False),
                               seed=0, both_orders=False)
    assert [p["alternative"] for p in pairs] == ["inventory", "open wardrobe", "look around"]
    assert stats["rule"] == "first_valid" and stats["states_kept"] == 3
    assert stats["states_kept_share"] == 0.75 and stats["states_dropped_equal_expert"] == 0


def test_paper_rule_reads_one_sample_and_drops_the_state_when_it_is_the_experts():
    config = AlternativeConfig(rule="paper", random_fallback=False)
    pairs, stats = build_pairs(_states(4), RULE_SAMPLES, config, seed=0, both_orders=False)
    assert [(p["task"], p["alternative"]) for p in pairs] == [("train:1", "open wardrobe")]
    assert stats["candidates"] == 4 and stats["states_dropped_equal_expert"] == 2
    assert stats["states_without_alternative"] == 1  # the malformed sample
    assert stats["states_kept"] == 1 and stats["states_kept_share"] == 0.25
    # A random fallback never replaces the expert's action: that would undo the rule.
    pairs, stats = build_pairs(_states(4), RULE_SAMPLES, AlternativeConfig(rule="paper"),
                               seed=0, both_orders=False)
    assert [p["alternative_source"] for p in pairs] == ["policy", "random"]
    assert stats["states_kept_share"] == 0.5 and stats["states_dropped_equal_expert"] == 2


def test_alternative_rule_settings_are_checked():
    import pytest

    from actrain.errors import ActrainError

    with pytest.raises(ActrainError, match="alternatives.rule must be one of"):
        AlternativeConfig(rule="first")
    with pytest.raises(ActrainError, match="per_state 1"):
        AlternativeConfig(rule="paper", per_state=2)
    with pytest.raises(ActrainError, match="mode sample"):
        AlternativeConfig(rule="paper", mode="admissible")


def test_the_rule_enters_the_pairs_key_only_when_it_is_not_the_default():
    from actrain.config.schema import load_config
    from actrain.run.keys import RunKeys

    def key(*overrides: str) -> str:
        return RunKeys(load_config(None, ["model=tiny-random", *overrides])).data_key("pairs")

    assert key() == key("alternatives.rule=first_valid") != key("alternatives.rule=paper")
