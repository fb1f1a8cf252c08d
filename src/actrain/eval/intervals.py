"""Paired differences between two methods with bootstrap intervals: pure functions, no model.

Two methods of a run are measured on the same units (held-out expert states for the next-action
accuracy, keyed by (task, step); rollout tasks for episode success) and with the same training
seeds. The difference of method A over method B is the mean over seeds and units of A's value
minus B's at that unit and seed. Its interval is a two-level bootstrap over both sources of
noise: each resample draws the seeds with replacement and the units with replacement (one draw
of units for all drawn seeds, since every seed was measured on the same units), and takes the
mean paired difference over the drawn seeds x drawn units. The 95% interval is the 2.5th and
97.5th percentiles of those means. The draws are seeded, so a report is reproducible.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from actrain.records import EpisodeRecord, NextActionRecord

RESAMPLES = 2000
LEVEL = 0.95

# {seed: {unit: value}}: one method's per-unit values (1.0 / 0.0 for right / wrong), by seed
Values = Mapping[Any, Mapping[Hashable, float]]


def paired_difference(a: Values, b: Values, resamples: int = RESAMPLES, seed: int = 0,
                      level: float = LEVEL) -> dict[str, Any] | None:
    """Mean of A - B over the seeds and units both methods have, with its bootstrap interval.

    Only seeds measured for both methods count, and only the units measured for both methods
    at every one of those seeds, so the difference is always over the same units. Returns
    {diff, low, high, level, units, seeds, resamples}, or None when nothing is shared.
    """
    seeds = [s for s in a if s in b]
    if not seeds:
        return None
    units = [u for u in a[seeds[0]] if all(u in a[s] and u in b[s] for s in seeds)]
    if not units:
        return None
    diffs = np.array([[float(a[s][u]) - float(b[s][u]) for u in units] for s in seeds])
    low, high = bootstrap_interval(diffs, resamples, seed, level)
    return {"diff": float(diffs.mean()), "low": low, "high": high, "level": level,
            "units": len(units), "seeds": [str(s) for s in seeds], "resamples": resamples}


def bootstrap_interval(diffs: np.ndarray, resamples: int = RESAMPLES, seed: int = 0,
                       level: float = LEVEL) -> tuple[float, float]:
    """Percentile interval of the grand mean of a seeds x units matrix, resampling seeds (rows)
    and units (columns) with replacement, each resample one draw of each."""
    diffs = np.asarray(diffs, dtype=float)
    n_seeds, n_units = diffs.shape
    rng = np.random.default_rng(seed)
    # How often each seed and each unit is drawn in each resample: the mean over the drawn
    # seeds x units is then counts_s . D . counts_u / (S U), without building the draws.
    seed_counts = rng.multinomial(n_seeds, np.full(n_seeds, 1 / n_seeds), size=resamples)
    unit_counts = rng.multinomial(n_units, np.full(n_units, 1 / n_units), size=resamples)
    means = np.einsum("rs,su,ru->r", seed_counts, diffs, unit_counts) / (n_seeds * n_units)
    tail = (1 - level) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return float(low), float(high)


def excludes_zero(result: Mapping[str, Any] | None) -> bool:
    """Whether an interval lies wholly above or wholly below 0."""
    return bool(result) and (result["low"] > 0 or result["high"] < 0)


def next_action_values(records: Iterable[NextActionRecord]) -> dict[str, dict[Hashable, float]]:
    """{split: {(task, step): 1.0 right / 0.0 wrong}} from per-state next-action records."""
    out: dict[str, dict[Hashable, float]] = {}
    for r in records:
        out.setdefault(r.split, {})[r.state_key] = float(bool(r.correct))
    return out


def success_values(episodes: Iterable[EpisodeRecord]) -> dict[str, dict[Hashable, float]]:
    """{split: {(task, n): 1.0 won / 0.0 not}} from episode records; `n` numbers the plays of
    a task within its split (0 for the first), so a task played twice pairs play by play."""
    out: dict[str, dict[Hashable, float]] = {}
    for e in episodes:
        split = out.setdefault(e.split or "", {})
        n = sum(1 for task, _ in split if task == e.task)
        split[(e.task, n)] = float(bool(e.won))
    return out


def paired_comparisons(
    next_action: Mapping[str, Mapping[Any, Sequence[NextActionRecord]]],
    episodes: Mapping[str, Mapping[Any, Sequence[EpisodeRecord]]],
    pairs: Iterable[tuple[str, str, str]],
    splits: Sequence[str],
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """For each (method A, method B, label) both of which were measured, and each split: the
    paired next-action difference over the same held-out states and the paired success
    difference over the same tasks, each with its bootstrap interval (`paired_difference`).

    `next_action` and `episodes` are {method: {seed: records}} (`agent/<id>.next_action.jsonl`
    and `agent/<id>.episodes.jsonl`). Differences are fractions (0.05 = 5 points).
    """
    def by_split(source: Mapping[Any, Sequence[Any]], values: Any
                 ) -> dict[str, dict[Any, dict[Hashable, float]]]:
        table: dict[str, dict[Any, dict[Hashable, float]]] = {}
        for run_seed, records in source.items():
            for split, units in values(records).items():
                table.setdefault(split, {})[run_seed] = units
        return table

    out = []
    for first, second, label in pairs:
        if not ((first in next_action and second in next_action)
                or (first in episodes and second in episodes)):
            continue
        states = {m: by_split(next_action.get(m, {}), next_action_values) for m in (first, second)}
        plays = {m: by_split(episodes.get(m, {}), success_values) for m in (first, second)}
        for split in splits:
            nxt = paired_difference(states[first].get(split, {}), states[second].get(split, {}),
                                    resamples, seed)
            won = paired_difference(plays[first].get(split, {}), plays[second].get(split, {}),
                                    resamples, seed)
            if nxt is None and won is None:
                continue
            out.append({"a": first, "b": second, "label": label, "split": split,
                        "next_action": nxt, "success": won})
    return out
