"""What a report says of the agents: the table in the paper's layout, the ACT gains and the
verdict, from a run's results (`results.py`). Pure functions of the results, as `report.py`."""

from __future__ import annotations

import statistics
from typing import Any


def pct(value: Any) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


# Above this share of answers cut off while thinking, a score measures the token budget more than
# the model (and a model that thinks shorter gains by it): every report warns.
TRUNCATION_WARNING = 0.05


# (method with ACT, method without) pairs whose difference is the ACT gain, as in the paper.
GAINS = (
    ("act_il", "il", "ACT->IL over IL"),
    ("act_il_rl", "il_rl", "ACT->IL->RL over IL->RL"),
    ("act_il", "il_il", "ACT->IL over IL->IL (matched length)"),
    ("act_il_rl", "il_rl_rl", "ACT->IL->RL over IL->RL->RL (matched length)"),
)


def _mean_std(values: list[float], scale: float = 100.0, digits: int = 1) -> str:
    if not values:
        return "n/a"
    mean = statistics.fmean(values) * scale
    if len(values) == 1:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {statistics.stdev(values) * scale:.{digits}f}"


def agent_values(results: dict[str, Any], key: str) -> dict[str, dict[str, list[float]]]:
    """{method: {split: [value per seed]}} for one summary key (e.g. success_rate)."""
    splits = results["protocol"]["splits"]
    table: dict[str, dict[str, list[float]]] = {}
    for method, by_seed in results["agent"].items():
        for summary in by_seed.values():
            for split in splits:
                if split in summary and key in summary[split]:
                    table.setdefault(method, {}).setdefault(split, []).append(
                        summary[split][key]
                    )
    return table


def aggregate(results: dict[str, Any]) -> dict[str, dict[str, dict[str, float | int]]]:
    """{method: {split: {success_mean, success_std, score_mean, score_std, seeds}}}, with
    `score_raw_mean` where the summaries keep the environment's own (unclipped) mean score."""
    success = agent_values(results, "success_rate")
    score = agent_values(results, "mean_score")
    raw = agent_values(results, "mean_score_raw")
    out: dict[str, dict[str, dict[str, float | int]]] = {}
    for method, by_split in success.items():
        for split, values in by_split.items():
            scores = score[method][split]
            out.setdefault(method, {})[split] = {
                "seeds": len(values),
                "success_mean": statistics.fmean(values),
                "success_std": statistics.stdev(values) if len(values) > 1 else 0.0,
                "score_mean": statistics.fmean(scores),
                "score_std": statistics.stdev(scores) if len(scores) > 1 else 0.0,
            }
            raw_scores = raw.get(method, {}).get(split, [])
            if len(raw_scores) == len(values):
                out[method][split]["score_raw_mean"] = statistics.fmean(raw_scores)
    return out


def _score_cell(clipped: list[float], raw: list[float]) -> str:
    """Mean score over seeds, episodes counted from 0; the environment's own mean beside it
    where failed episodes pulled it below (ScienceWorld's -100), so neither hides the other."""
    cell = _mean_std(clipped, 1.0, 2)
    if len(raw) == len(clipped) and any(abs(r - c) > 1e-9 for r, c in zip(raw, clipped,
                                                                            strict=True)):
        cell += f" (raw {_mean_std(raw, 1.0, 2)})"
    return cell


def agent_table(results: dict[str, Any]) -> str:
    """Methods x splits in the paper's layout: success % and mean score, mean ± std over seeds."""
    splits = results["protocol"]["splits"]
    success = agent_values(results, "success_rate")
    score = agent_values(results, "mean_score")
    raw = agent_values(results, "mean_score_raw")
    next_action = {  # {method: [held-out next-action accuracy per seed]}
        method: [s["next_action"]["accuracy"] for s in by_seed.values()
                 if (s.get("next_action") or {}).get("accuracy") is not None]
        for method, by_seed in results["agent"].items()
    }
    with_next = any(next_action.values())
    cut = _truncated_per_seed(results)
    with_cut = any(cut.values())
    next_cut = {  # {method: [next-action answers cut off while thinking, per seed]}
        method: [s["next_action"]["truncated_rate"] for s in by_seed.values()
                 if (s.get("next_action") or {}).get("truncated_rate") is not None]
        for method, by_seed in results["agent"].items()
    }
    with_next_cut = with_next and any(next_cut.values())
    header = ("| method | seeds | " + " | ".join(f"{s} success %" for s in splits) + " | "
              + " | ".join(f"{s} score" for s in splits) + " | invalid actions % |"
              + (" turns cut off while thinking % |" if with_cut else "")
              + (" next-action acc. % (held-out expert states) |" if with_next else "")
              + (" next-action cut off % |" if with_next_cut else ""))
    columns = 2 + 2 * len(splits) + 1 + with_cut + with_next + with_next_cut
    lines = [header, "|" + "---|" * columns]
    for method in results["methods"]:
        if method not in success:
            continue
        seeds = len(results["agent"][method])
        cells = [_mean_std(success[method].get(s, [])) for s in splits]
        cells += [_score_cell(score.get(method, {}).get(s, []), raw.get(method, {}).get(s, []))
                  for s in splits]
        # One value per seed (the mean over splits), so the ± is a spread over seeds only.
        per_seed = [
            statistics.fmean(summary[s]["invalid_action_rate"] for s in splits if s in summary)
            for summary in results["agent"][method].values()
            if any(s in summary for s in splits)
        ]
        cells.append(_mean_std(per_seed))
        if with_cut:
            cells.append(_mean_std(cut.get(method, [])))
        if with_next:
            cells.append(_mean_std(next_action.get(method, [])))
        if with_next_cut:
            cells.append(_mean_std(next_cut.get(method, [])))
        lines.append(f"| {method} | {seeds} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _truncated_per_seed(results: dict[str, Any]) -> dict[str, list[float]]:
    """{method: [share of rollout turns cut off while thinking, per seed]}: the mean over the
    splits that record it (`rollouts.summarise`), so the ± is a spread over seeds only."""
    splits = results["protocol"]["splits"]
    table: dict[str, list[float]] = {}
    for method, by_seed in results["agent"].items():
        for summary in by_seed.values():
            rates = [summary[s]["truncated_rate"] for s in splits
                     if summary.get(s, {}).get("truncated_rate") is not None]
            if rates:
                table.setdefault(method, []).append(statistics.fmean(rates))
    return table


def truncation_warnings(results: dict[str, Any]) -> list[str]:
    """One warning line when any evaluation cut more than `TRUNCATION_WARNING` of its answers
    off while thinking (critic accuracy, agent turns, next-action accuracy), naming each; an
    empty list otherwise. Such a number partly measures the token budget, not the model."""
    found: list[str] = []
    for name, m in (results.get("critic") or {}).items():
        rate = m.get("truncated_rate")
        if rate is not None and rate > TRUNCATION_WARNING:
            found.append(f"critic `{name}` {pct(rate)}")
    for method, by_seed in (results.get("agent") or {}).items():
        for seed, summary in by_seed.items():
            for where, part in summary.items():
                rate = part.get("truncated_rate") if isinstance(part, dict) else None
                if rate is not None and rate > TRUNCATION_WARNING:
                    found.append(f"agent `{method}` seed {seed} {where.replace('_', '-')} "
                                 f"{pct(rate)}")
    if not found:
        return []
    return [f"- **warning**: answers cut off while thinking above {pct(TRUNCATION_WARNING)}: "
            f"{', '.join(found)}; these numbers partly measure the token budget (raise "
            f"critic.max_new_tokens / rollout.max_new_tokens or "
            f"rollout.thinking_max_new_tokens)"]


def act_gains(results: dict[str, Any]) -> list[str]:
    """The paper's gain: per split, mean success with ACT minus without; then the average."""
    splits = results["protocol"]["splits"]
    success = agent_values(results, "success_rate")
    lines = []
    for with_act, without, label in GAINS:
        if with_act not in success or without not in success:
            continue
        a, b = success[with_act], success[without]
        deltas = {
            s: 100 * (statistics.fmean(a[s]) - statistics.fmean(b[s]))
            for s in splits if a.get(s) and b.get(s)
        }
        if deltas:
            parts = ", ".join(f"{s} {d:+.1f}" for s, d in deltas.items())
            lines.append(f"- {label}: **{statistics.fmean(deltas.values()):+.1f} points** "
                         f"(average of the per-split deltas: {parts})")
    return lines


def verdict(results: dict[str, Any]) -> list[str]:
    """Did ACT help? The critic's held-out gain, then each method with ACT against the same
    pipeline without it (ACT->IL vs IL, ACT->IL->RL vs IL->RL, and the matched-length controls
    where they ran), per split, with its noise.

    A difference counts only beyond two standard errors of the difference between two success
    rates (binomial, over all episodes of all seeds): with a few dozen episodes, points of
    difference are noise, and the line says so. The pooled rate is shrunk towards one half by one
    pseudo-success and one pseudo-failure, so that 0 of 8 against 0 of 8 does not read as a
    certainty (its two standard errors are then 23 points, not 0).
    """
    lines = []
    critic = results.get("critic", {})
    base = critic.get("base", {}).get("balanced_accuracy")
    for name, m in critic.items():
        if name != "base" and m.get("balanced_accuracy") is not None and base is not None:
            lines.append(
                f"- critic `{name}`: held-out balanced accuracy {pct(base)} (base) -> "
                f"{pct(m['balanced_accuracy'])} ({pct(m.get('accuracy_expert_first'))} expert "
                f"first, {pct(m.get('accuracy_expert_second'))} second; chance "
                f"{pct(1 / m.get('candidates', 2))})"
            )
    agent = results.get("agent", {})
    success = agent_values(results, "success_rate")
    for with_act, without, label in GAINS:
        if with_act not in agent or without not in agent:
            continue
        for split in results["protocol"]["splits"]:
            rates = {m: _pooled(agent[m], split) for m in (with_act, without)}
            if not rates[with_act] or not rates[without]:
                continue
            (p1, n1), (p0, n0) = rates[with_act], rates[without]
            delta = 100 * (p1 - p0)
            pooled = (p1 * n1 + p0 * n0 + 1) / (n1 + n0 + 2)
            noise = 200 * (pooled * (1 - pooled) * (1 / n1 + 1 / n0)) ** 0.5
            if noise and abs(delta) > noise:
                word = "ACT helped" if delta > 0 else "ACT hurt"
            else:
                word = "no measurable gain"
            seeds = len(success[with_act].get(split, [])), len(success[without].get(split, []))
            lines.append(
                f"- **{label}, `{split}`: {word}**: "
                f"{_mean_std(success[with_act].get(split, []))}% vs "
                f"{_mean_std(success[without].get(split, []))}% success (mean ± std over "
                f"{seeds[0]} and {seeds[1]} seed(s), {n1} and {n0} episodes); {delta:+.1f} "
                f"points, two standard errors = {noise:.1f} points"
            )
    return lines


def _pooled(by_seed: dict[Any, dict[str, Any]], split: str) -> tuple[float, int] | None:
    """(success rate over all episodes of all seeds, episodes) of one method on a split."""
    runs = [s[split] for s in by_seed.values() if split in s]
    episodes = sum(r["episodes"] for r in runs)
    wins = sum(r["success_rate"] * r["episodes"] for r in runs)
    return (wins / episodes, episodes) if episodes else None
