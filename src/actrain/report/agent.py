"""What a report says of the agents: the table in the paper's layout, the ACT gains and the
verdict, from a run's results (`run/results.py`). Pure functions of the results, as
`report/markdown.py`."""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from typing import Any

from actrain.eval.intervals import excludes_zero
from actrain.prompts import TRUNCATION_WARNING


def pct(value: Any) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"




# (method with ACT, method without) pairs whose difference is the ACT gain, as in the paper.
GAINS = (
    ("act_il", "il", "ACT->IL over IL"),
    ("act_il_rl", "il_rl", "ACT->IL->RL over IL->RL"),
    ("act_il", "il_il", "ACT->IL over IL->IL (matched length)"),
    ("act_il_rl", "il_rl_rl", "ACT->IL->RL over IL->RL->RL (matched length)"),
)


def gains(methods: Iterable[str]) -> list[tuple[str, str, str]]:
    """`GAINS` for the methods a run holds: (with ACT, without, label). A method that names its
    ACT objective (`act-grpo_il`, `act-sft_il`) stands where `act_il` does, its label saying
    which objective."""
    found = []
    for method in methods:
        head, sep, rest = method.partition("_")
        if not sep or not (head == "act" or head.startswith("act-")):
            continue
        for with_act, without, label in GAINS:
            if with_act.partition("_")[2] == rest:
                named = label if head == "act" else label.replace("ACT", head.upper(), 1)
                found.append((method, without, named))
    return found


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


def next_action_parts(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """{split: next-action figures} of one agent summary; a result file from before they were
    kept per split (one flat `next_action` over the `id_test` trajectories) gives
    {"held-out": it}."""
    figures = summary.get("next_action")
    if not isinstance(figures, dict):
        return {}
    nested = {k: v for k, v in figures.items() if isinstance(v, dict)}
    if nested:
        return nested
    return {"held-out": figures} if figures.get("states") else {}


def _next_action_per_seed(results: dict[str, Any], key: str
                          ) -> dict[str, dict[str, list[float]]]:
    """{method: {split or "held-out": [next-action `key` per seed]}}."""
    table: dict[str, dict[str, list[float]]] = {}
    for method, by_seed in results["agent"].items():
        for summary in by_seed.values():
            for where, figures in next_action_parts(summary).items():
                if figures.get(key) is not None:
                    table.setdefault(method, {}).setdefault(where, []).append(figures[key])
    return table


def _episodes_a_split(results: dict[str, Any]) -> int | None:
    """The episodes a split a seed the agent table rests on (the most any summary played)."""
    counts = [part["episodes"] for by_seed in results["agent"].values()
              for summary in by_seed.values() for part in summary.values()
              if isinstance(part, dict) and isinstance(part.get("episodes"), int)]
    return max(counts) if counts else None


def paired_table(results: dict[str, Any]) -> str:
    """Each ACT gain per split, paired over the same held-out states and tasks, with 95%
    bootstrap intervals over seeds and states (`eval/intervals.py`); "" without paired results."""
    rows = results.get("paired") or []
    if not rows:
        return ""
    lines = ["| method A over method B | split | next-action diff [95% CI] | "
             "success diff [95% CI] | states | episodes | seed ids |", "|" + "---|" * 7]
    for row in rows:
        nxt, won = row.get("next_action"), row.get("success")
        seeds = (nxt or won or {}).get("seeds", [])
        lines.append(
            f"| {row['label']} | {row['split']} | {_interval_cell(nxt)} | "
            f"{_interval_cell(won)} | {nxt['units'] if nxt else 'n/a'} | "
            f"{won['units'] if won else 'n/a'} | {', '.join(map(str, seeds)) or 'n/a'} |")
    return "\n".join(lines)


def _interval_cell(result: dict[str, Any] | None) -> str:
    """"+3.2 [+1.0, +5.4]" in points, bold where the interval excludes 0."""
    if not result:
        return "n/a"
    cell = f"{100 * result['diff']:+.1f} {_interval_text(result)}"
    return f"**{cell}**" if excludes_zero(result) else cell


def _interval_text(result: dict[str, Any]) -> str:
    return f"[{100 * result['low']:+.1f}, {100 * result['high']:+.1f}]"


def agent_table(results: dict[str, Any]) -> str:
    """The paired next-action comparison first (where measured), then methods x splits in the
    paper's layout: success % and mean score, mean ± std over seeds, and the next-action
    accuracy of each split."""
    splits = results["protocol"]["splits"]
    next_action = _next_action_per_seed(results, "accuracy")
    places = list(dict.fromkeys(where for by_place in next_action.values() for where in by_place))
    next_cut = _next_action_cut_per_seed(results)
    cut = _truncated_per_seed(results)
    with_cut = any(cut.values())
    with_next_cut = bool(places) and any(next_cut.values())
    if places == ["held-out"]:  # result files from before the per-split states
        next_header = " next-action acc. % (held-out expert states) |"
    else:
        next_header = "".join(f" {p} next-action acc. % |" for p in places)
    header = ("| method | seeds | " + " | ".join(f"{s} success %" for s in splits) + " | "
              + " | ".join(f"{s} score" for s in splits) + " | invalid actions % |"
              + (" turns cut off while thinking % |" if with_cut else "")
              + next_header
              + (" next-action cut off % |" if with_next_cut else ""))
    columns = 2 + 2 * len(splits) + 1 + with_cut + len(places) + with_next_cut
    lines = [header, "|" + "---|" * columns]
    success = agent_values(results, "success_rate")
    if not success and places:  # no episodes were played (rollout.episodes 0): next actions only
        return "\n".join([*_paired_lead(results), _next_action_only(results, next_action, places)])
    for method in results["methods"]:
        if method not in success:
            continue
        cells = _rollout_cells(results, method)
        if with_cut:
            cells.append(_mean_std(cut.get(method, [])))
        cells += [_mean_std(next_action.get(method, {}).get(p, [])) for p in places]
        if with_next_cut:
            cells.append(_mean_std(next_cut.get(method, [])))
        lines.append(f"| {method} | {len(results['agent'][method])} | " + " | ".join(cells)
                     + " |")
    episodes = _episodes_a_split(results)
    label = (f"Success and score by method: each split's figures rest on {episodes} episodes "
             f"a seed, mean ± std over seeds." if episodes else "Success and score by method.")
    return "\n".join([*_paired_lead(results), label, "", *lines])


def _next_action_only(results: dict[str, Any], next_action: dict[str, dict[str, list[float]]],
                      places: list[str]) -> str:
    """Methods x splits of next-action accuracy, for a run that played no episodes."""
    lines = ["Next-action accuracy by method (no episodes were played: `rollout.episodes` 0), "
             "mean ± std over seeds.", "",
             "| method | seeds | " + " | ".join(f"{p} next-action acc. %" for p in places) + " |",
             "|" + "---|" * (2 + len(places))]
    for method in results["methods"]:
        if method in next_action:
            cells = [_mean_std(next_action[method].get(p, [])) for p in places]
            lines.append(f"| {method} | {len(results['agent'][method])} | "
                         + " | ".join(cells) + " |")
    return "\n".join(lines)


def _next_action_cut_per_seed(results: dict[str, Any]) -> dict[str, list[float]]:
    """{method: [next-action answers cut off while thinking, per seed]}."""
    return {
        method: [statistics.fmean(f["truncated_rate"] for f in next_action_parts(s).values()
                                  if f.get("truncated_rate") is not None)
                 for s in by_seed.values()
                 if any(f.get("truncated_rate") is not None
                        for f in next_action_parts(s).values())]
        for method, by_seed in results["agent"].items()
    }


def _rollout_cells(results: dict[str, Any], method: str) -> list[str]:
    """A method's success and score on each split, then its invalid-action rate."""
    splits = results["protocol"]["splits"]
    success = agent_values(results, "success_rate")[method]
    score = agent_values(results, "mean_score").get(method, {})
    raw = agent_values(results, "mean_score_raw").get(method, {})
    cells = [_mean_std(success.get(s, [])) for s in splits]
    cells += [_score_cell(score.get(s, []), raw.get(s, [])) for s in splits]
    # One value per seed (the mean over splits), so the ± is a spread over seeds only.
    per_seed = [
        statistics.fmean(summary[s]["invalid_action_rate"] for s in splits if s in summary)
        for summary in results["agent"][method].values()
        if any(s in summary for s in splits)
    ]
    return [*cells, _mean_std(per_seed)]


def _paired_lead(results: dict[str, Any]) -> list[str]:
    """The paired comparison with its explanation, or nothing without paired results."""
    paired = paired_table(results)
    if not paired:
        return []
    return ["Paired comparison (the primary agent measure): next-action accuracy on the same "
            "held-out expert states, and episode success on the same tasks, method A minus "
            "method B in points, with 95% bootstrap intervals resampling seeds and states (or "
            "tasks) together; states and episodes are a seed's, every seed measured on all of "
            "them. Bold: the interval excludes 0.", "", paired, ""]


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
            parts = {where: part for where, part in summary.items() if where != "next_action"}
            parts |= {f"next-action {where}" if where != "held-out" else "next-action": part
                      for where, part in next_action_parts(summary).items()}
            for where, part in parts.items():
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
    for with_act, without, label in gains(success):
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

    Where the run kept per-state and per-episode results (`results["paired"]`), each gain is
    judged from its paired 95% bootstrap intervals (`eval/intervals.py`), led by next-action
    accuracy; otherwise, as follows from the summaries alone.

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
    paired = results.get("paired") or []
    lines += [_paired_verdict(row) for row in paired]
    judged = {(row["label"], row["split"]) for row in paired}
    for with_act, without, label in gains(agent):
        if with_act not in agent or without not in agent:
            continue
        for split in results["protocol"]["splits"]:
            if (label, split) in judged:
                continue
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


def _paired_verdict(row: dict[str, Any]) -> str:
    """One gain on one split from its paired intervals: a gain (or loss) is said to be seen
    only where the 95% interval excludes 0. The next-action difference decides (the success
    difference where no next-action states were measured for both methods)."""
    nxt, won = row.get("next_action"), row.get("success")
    main = nxt or won
    if excludes_zero(main):
        word = "ACT helped" if main["diff"] > 0 else "ACT hurt"
    else:
        word = "no difference this measurement can see"
    word += f" (95% CI {_interval_text(main)})"
    parts = []
    for name, result, unit in (("next-action accuracy", nxt, "held-out expert states"),
                               ("success", won, "episodes")):
        if not result:
            continue
        seen = ("seen" if excludes_zero(result) else
                "no difference this measurement can see")
        parts.append(f"{name} {100 * result['diff']:+.1f} points, {seen} (95% CI "
                     f"{_interval_text(result)}; {result['units']} {unit} x "
                     f"{len(result['seeds'])} seed(s))")
    return f"- **{row['label']}, `{row['split']}`: {word}**: " + "; ".join(parts)


def _pooled(by_seed: dict[Any, dict[str, Any]], split: str) -> tuple[float, int] | None:
    """(success rate over all episodes of all seeds, episodes) of one method on a split."""
    runs = [s[split] for s in by_seed.values() if "success_rate" in s.get(split, {})]
    episodes = sum(r["episodes"] for r in runs)
    wins = sum(r["success_rate"] * r["episodes"] for r in runs)
    return (wins / episodes, episodes) if episodes else None
