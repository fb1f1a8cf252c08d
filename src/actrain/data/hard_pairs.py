"""The hard critic set: held-out pairs where a surface rule is at chance and judgment is not.

At every state of held-out expert trajectories, the alternatives are the admissible actions of
the *same kind* as the expert's (the same first word: `put X in Z` against `put X in Y`, `take`
against another `take`), kept only where the environment verifies them worse than the expert's
action (`data/verify.py`: the oracle's plan, or the outcome of the expert's remaining plan). The
first-word rule scores exactly 50% on such pairs, so a critic above chance here reads the state
and knows what the actions do. Each pair is written in both shown orders.

Candidates are tried in a seeded random order, at most `max_checks` a state, until `per_state`
are verified: a state with many same-kind actions (a kitchen's dozen `take`s) costs a bounded
number of replays.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from typing import Any

from tqdm import tqdm

from actrain.data.pairs import expert_states, pair_record, same_kind
from actrain.data.verify import alternative_is_worse, has_oracle, trajectory_prefixes
from actrain.envs.base import TextEnv
from actrain.prompts import first_word
from actrain.records import Pair, Trajectory

HARD_SOURCE = "same_kind_verified"

# The kinds of alternative a critic's figures are broken down by (`alternative_kind`): pairs
# a critic may learn apart, so one that learns placement alone and names a position elsewhere
# shows it. Stalling actions only gather information (TWC's `look around`, `inventory`;
# ALFWorld's `look`; ScienceWorld's `wait`).
PLACEMENT_VERBS = ("put", "insert", "place", "move")
STALL_VERBS = ("look", "inventory", "wait", "examine")
ALTERNATIVE_KINDS = ("same kind: placement", "same kind: other verbs", "stall", "other kind")


def alternative_kind(expert: str, alternative: str) -> str:
    """Which of `ALTERNATIVE_KINDS` an alternative is, next to the expert's action."""
    verb = first_word(alternative)
    if verb == first_word(expert):
        return ALTERNATIVE_KINDS[0] if verb in PLACEMENT_VERBS else ALTERNATIVE_KINDS[1]
    return ALTERNATIVE_KINDS[2] if verb in STALL_VERBS else ALTERNATIVE_KINDS[3]


def hard_pairs(
    env: TextEnv,
    trajectories: Sequence[Trajectory],
    history_len: int,
    per_state: int = 1,
    seed: int = 0,
    max_checks: int = 8,
) -> tuple[list[Pair], dict[str, Any]]:
    """The hard set of `trajectories` (both orders), and counts of how it was made."""
    rng = random.Random(seed)
    states = expert_states(trajectories, history_len)
    taken = trajectory_prefixes(trajectories)
    oracle = bool(states) and has_oracle(env, states[0].task)
    pairs: list[Pair] = []
    stats: Counter[str] = Counter()
    verbs: Counter[str] = Counter()
    for record in tqdm(states, desc="hard critic set", unit="state", leave=False):
        candidates = same_kind(record.expert_action, record.state.admissible)
        if not candidates:
            continue
        stats["states_with_same_kind"] += 1
        rng.shuffle(candidates)
        kept: list[str] = []
        actions = taken[record.task]
        for alternative in candidates[:max_checks]:
            stats["checked"] += 1
            if alternative_is_worse(env, record.task, actions[: record.step],
                                    record.expert_action, alternative,
                                    actions[record.step + 1:], oracle):
                kept.append(alternative)
                if len(kept) == per_state:
                    break
        stats["verified_worse"] += len(kept)
        for alternative in kept:
            verbs[first_word(record.expert_action)] += 1
            for expert_first in (True, False):
                pairs.append(pair_record(record, alternative, HARD_SOURCE, expert_first))
    return pairs, {
        "states": len(states),
        "states_with_same_kind": stats["states_with_same_kind"],
        "checked": stats["checked"],
        "verified_worse": stats["verified_worse"],
        "pairs": len(pairs) // 2,
        "by_verb": dict(verbs.most_common()),
        "check": "oracle" if oracle else "outcome",
    }
