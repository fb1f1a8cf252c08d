from collections import Counter

from actrain.config import AlternativeConfig
from actrain.data.alternatives import (
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
