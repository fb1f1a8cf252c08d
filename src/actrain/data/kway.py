"""K-way choice (beyond the paper): the expert's action among K - 1 alternatives of one state.

The pairs file stays the source (each record one alternative); with `critic.candidates: K > 2`
the pairs of one state are joined into a K-way item: the expert's action and the first K - 1
distinct alternatives (`alternatives.per_state` must be at least K - 1). An item is shown in
cyclic rotations of that list, rotation r putting the expert's action at position r, so every
candidate appears at every position across an item's rotations: held-out items in all K
rotations (the critic is scored by the expert's position), training rows in one random rotation
or, for pair groups, all of them inside one GRPO group. K = 2 is the plain pair in its two
orders.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from actrain.prompts import normalise_action


def rotation(candidates: Sequence[str], r: int) -> list[str]:
    """`candidates` (the expert's action first) turned so that the expert's is at position r."""
    items = list(candidates)
    return items[-r:] + items[:-r] if r else items


def canonical(row: dict[str, Any]) -> list[str]:
    """A shown row's candidates turned back so the expert's action is first."""
    actions, label = list(row["actions"]), row["label"]
    return actions[label:] + actions[:label]


def kway_items(
    pairs: Sequence[dict[str, Any]], k: int, all_positions: bool, seed: int = 0
) -> tuple[list[dict[str, Any]], int]:
    """K-way items from the pairs of each state, and the number of states with too few
    distinct alternatives (left out). `all_positions`: every rotation of an item (held-out);
    else one drawn with `seed`."""
    rng = random.Random(seed)
    by_state: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for pair in pairs:
        by_state.setdefault((pair["task"], pair["step"]), []).append(pair)
    items: list[dict[str, Any]] = []
    short = 0
    for group in by_state.values():
        alternatives: list[str] = []
        for pair in group:
            if normalise_action(pair["alternative"]) not in map(normalise_action, alternatives):
                alternatives.append(pair["alternative"])
        if len(alternatives) < k - 1:
            short += 1
            continue
        candidates = [group[0]["expert_action"], *alternatives[: k - 1]]
        positions = range(k) if all_positions else [rng.randrange(k)]
        base = {key: v for key, v in group[0].items() if key not in ("actions", "label")}
        for r in positions:
            items.append({**base, "alternatives": candidates[1:],
                          "actions": rotation(candidates, r), "label": r, "expert_first": r == 0})
    return items, short


def training_rows(
    pairs: Sequence[dict[str, Any]], both_orders: bool, seed: int | None = None
) -> list[dict[str, Any]]:
    """Pairs as training rows; with `both_orders` each pair is added in its other order too.

    With a `seed`, pairs are shuffled first and each pair's two orders stay adjacent, so that an
    unshuffled sampler puts them in the same step.
    """
    pairs = list(pairs)
    if seed is not None:
        random.Random(seed).shuffle(pairs)
    rows = []
    for pair in pairs:
        rows.append(pair)
        if both_orders and len(pair["actions"]) == 2:
            flipped = dict(pair)
            flipped["actions"] = list(reversed(pair["actions"]))
            flipped["expert_first"] = not pair["expert_first"]
            flipped["label"] = 1 - pair["label"]
            rows.append(flipped)
        elif both_orders:  # a K-way item: its other rotations
            candidates = canonical(pair)
            rows += [{**pair, "actions": rotation(candidates, r), "label": r,
                      "expert_first": r == 0}
                     for r in range(len(candidates)) if r != pair["label"]]
    return rows
