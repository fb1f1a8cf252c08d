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

from actrain.prompts import normalise_action
from actrain.records import Pair


def rotation(candidates: Sequence[str], r: int) -> list[str]:
    """`candidates` (the expert's action first) turned so that the expert's is at position r."""
    items = list(candidates)
    return items[-r:] + items[:-r] if r else items


def canonical(row: Pair) -> list[str]:
    """A shown row's candidates turned back so the expert's action is first."""
    actions, label = list(row.actions), row.label
    return actions[label:] + actions[:label]


def kway_items(
    pairs: Sequence[Pair], k: int, all_positions: bool, seed: int = 0
) -> tuple[list[Pair], int]:
    """K-way items from the pairs of each state, and the number of states with too few
    distinct alternatives (left out). `all_positions`: every rotation of an item (held-out);
    else one drawn with `seed`."""
    rng = random.Random(seed)
    by_state: dict[tuple[str, int], list[Pair]] = {}
    for pair in pairs:
        by_state.setdefault(pair.state_key, []).append(pair)
    items: list[Pair] = []
    short = 0
    for group in by_state.values():
        alternatives: list[str] = []
        for pair in group:
            if normalise_action(pair.alternative) not in map(normalise_action, alternatives):
                alternatives.append(pair.alternative)
        if len(alternatives) < k - 1:
            short += 1
            continue
        candidates = [group[0].expert_action, *alternatives[: k - 1]]
        positions = range(k) if all_positions else [rng.randrange(k)]
        item = group[0].replace(alternatives=candidates[1:])
        items += [item.shown(rotation(candidates, r), r) for r in positions]
    return items, short


def training_rows(
    pairs: Sequence[Pair], both_orders: bool, seed: int | None = None
) -> list[Pair]:
    """Pairs as training rows; with `both_orders` each pair is added in its other order too.

    With a `seed`, pairs are shuffled first and each pair's two orders stay adjacent, so that an
    unshuffled sampler puts them in the same step.
    """
    pairs = Pair.coerce_all(pairs)
    if seed is not None:
        random.Random(seed).shuffle(pairs)
    rows = []
    for pair in pairs:
        rows.append(pair)
        if both_orders and len(pair.actions) == 2:
            rows.append(pair.shown(list(reversed(pair.actions)), 1 - pair.label))
        elif both_orders:  # a K-way item: its other rotations
            candidates = canonical(pair)
            rows += [pair.shown(rotation(candidates, r), r)
                     for r in range(len(candidates)) if r != pair.label]
    return rows
