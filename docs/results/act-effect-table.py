"""The agent table of docs/results/act-effect.md, from the run folders of configs/act-effect.yaml.

Reads each run's critic results (hard set, own held-out pairs), every agent's per-state next
actions, and the stage times; prints one row per method with its next-action accuracy per split
(mean over seeds) and each gain over IL and over IL -> IL as a paired difference over the same
held-out states and seeds, with its 95% bootstrap interval (`actrain.eval.intervals`).
Where agents also played episodes (`rollout.episodes`), a second table gives success and mean
score per split with paired gains over the same tasks and seeds.
Usage: python docs/results/act-effect-table.py runs/act-effect runs/act-effect-usual ...
The first folder holds IL and IL -> IL; every folder's ACT rows are compared with them.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

from actrain.eval.intervals import next_action_values, paired_difference, success_values
from actrain.runtime.io import read_episodes, read_next_action_records

SPLITS = ("id_test", "ood_test")


def agents(run: Path) -> dict[str, dict[int, Path]]:
    """{method: {seed: next-action file}}, methods spelled as checkpoint ids (il, il-il, ...)."""
    out: dict[str, dict[int, Path]] = {}
    for path in sorted((run / "agent").glob("seed*.next_action.jsonl")):
        ident = path.name.removesuffix(".next_action.jsonl")
        seed, _, method = ident.partition("-")
        out.setdefault(method, {})[int(seed.removeprefix("seed"))] = path
    return out


def values(files: dict[int, Path], verb: str = "") -> dict[str, dict[int, dict]]:
    """{split: {seed: {(task, step): 1.0 / 0.0}}}; with `verb`, only the states whose expert
    action starts with it."""
    table: dict[str, dict[int, dict]] = {}
    for seed, path in files.items():
        rows = [r for r in read_next_action_records(path)
                if not verb or r.expert_action.split()[0] == verb]
        for split, units in next_action_values(rows).items():
            table.setdefault(split, {})[seed] = units
    return table


def played(run: Path) -> dict[str, dict[int, Path]]:
    """{method: {seed: episodes file}} of the agents that played episodes."""
    out: dict[str, dict[int, Path]] = {}
    for path in sorted((run / "agent").glob("seed*.episodes.jsonl")):
        if not path.stat().st_size:
            continue
        seed, _, method = path.name.removesuffix(".episodes.jsonl").partition("-")
        out.setdefault(method, {})[int(seed.removeprefix("seed"))] = path
    return out


def episode_values(files: dict[int, Path], field: str = "won") -> dict[str, dict[int, dict]]:
    """{split: {seed: {(task, n): value}}}: success (1.0 / 0.0) or, with `field` "score", the
    episode's score (the share of the game's points reached)."""
    table: dict[str, dict[int, dict]] = {}
    for seed, path in files.items():
        episodes = read_episodes(path)
        if field == "won":
            split_units = success_values(episodes)
        else:
            split_units = {}
            for split, units in success_values(episodes).items():
                scores = iter(e.score for e in episodes if (e.split or "") == split)
                split_units[split] = {key: float(next(scores) or 0.0) for key in units}
        for split, units in split_units.items():
            table.setdefault(split, {})[seed] = units
    return table


def max_steps(run: Path, method: str, seed: int) -> int | None:
    path = run / "agent" / f"seed{seed}-{method}.json"
    return json.loads(path.read_text())["protocol"].get("max_steps") if path.exists() else None


def pct(x: float) -> str:
    return f"{100 * x:.1f}"


def gain(a: dict, b: dict, split: str) -> str:
    result = paired_difference(a.get(split, {}), b.get(split, {}))
    if result is None:
        return "-"
    cell = (f"{100 * result['diff']:+.1f} [{100 * result['low']:+.1f}, "
            f"{100 * result['high']:+.1f}]")
    inside = result["low"] > 0 or result["high"] < 0
    return (f"**{cell}**" if inside else cell) + f" ({len(result['seeds'])}s)"


def critic(run: Path, method: str, seeds: list[int]) -> str:
    """Hard-set balanced accuracy of the method's critic, mean over seeds (its orders)."""
    stage = method.partition("-il")[0] if method.startswith("act") else ""
    if not stage:
        return "-"
    found = []
    for seed in seeds:
        path = run / "critic" / f"seed{seed}-{stage}.hard.json"
        if path.exists():
            found.append(json.loads(path.read_text()))
    if not found:
        return "-"
    acc = statistics.fmean(m["balanced_accuracy"] for m in found)
    first = statistics.fmean(m["accuracy_expert_first"] for m in found)
    second = statistics.fmean(m["accuracy_expert_second"] for m in found)
    return f"{pct(acc)} ({pct(first)} / {pct(second)})"


def seconds(run: Path, method: str, seeds: list[int]) -> str:
    """Training time of the method's stages, mean over seeds (stages shared with another method
    count where they ran)."""
    book = json.loads((run / "stages.json").read_text())
    totals = []
    for seed in seeds:
        parts = method.split("-il")
        names = [f"train seed{seed}-{method}"]
        if method.startswith("act"):
            names.append(f"train seed{seed}-{parts[0]}")
        if method == "il-il":
            names.append(f"train seed{seed}-il")
        totals.append(sum(book[n]["seconds"] for n in names if n in book))
    return f"{statistics.fmean(totals) / 60:.0f} min" if totals else "-"


def main() -> None:
    runs = [Path(p) for p in sys.argv[1:]]
    base = agents(runs[0])
    il = values(base.get("il", {}))
    il_il = values(base.get("il-il", {}))
    print("| row | run | seeds | hard-set critic (expert first / second) | "
          + " | ".join(f"{s} next-action %" for s in SPLITS) + " | "
          + " | ".join(f"gain over IL, {s}" for s in SPLITS) + " | "
          + " | ".join(f"gain over IL -> IL, {s}" for s in SPLITS) + " | train time |")
    print("|" + "---|" * (5 + 3 * len(SPLITS)))
    for run in runs:
        for method, files in agents(run).items():
            if run != runs[0] and not method.startswith("act"):
                continue  # a copied IL row
            mine = values(files)
            seeds = sorted(files)
            acc = [pct(statistics.fmean(statistics.fmean(u.values())
                                        for u in mine.get(s, {}).values()))
                   if mine.get(s) else "-" for s in SPLITS]
            over_il = [gain(mine, il, s) if method != "il" else "-" for s in SPLITS]
            over_ilil = [gain(mine, il_il, s) if method.startswith("act") else "-"
                         for s in SPLITS]
            print(f"| {method} | {run.name} | {len(seeds)} | {critic(run, method, seeds)} | "
                  + " | ".join(acc) + " | " + " | ".join(over_il) + " | "
                  + " | ".join(over_ilil) + f" | {seconds(run, method, seeds)} |")
    against_first_run(runs)
    success_table(runs)
    print("\nGain over IL by the kind of the expert's action (its first word):\n")
    print("| row | run | kind | " + " | ".join(f"{s} states, gain over IL" for s in SPLITS) + " |")
    print("|" + "---|" * (3 + len(SPLITS)))
    for run in runs:
        for method, files in agents(run).items():
            if not method.startswith("act"):
                continue
            for verb in ("put", "take", "open", "move"):
                mine, base_verb = values(files, verb), values(base.get("il", {}), verb)
                cells = [f"{len(next(iter(mine[s].values())))}: {gain(mine, base_verb, s)}"
                         if mine.get(s) else "-" for s in SPLITS]
                print(f"| {method} | {run.name} | `{verb}` | " + " | ".join(cells) + " |")


def against_first_run(runs: list[Path]) -> None:
    """Each later run's ACT -> IL against the first run's, paired on the same seeds and states:
    does the later run's choice (pairs, answer format) transfer better than the first run's?"""
    first = agents(runs[0]).get("act-grpo-il", {})
    if len(runs) < 2 or not first:
        return
    print("\nACT -> IL of each run against the first run's ACT -> IL (same seeds and states):\n")
    print("| run | " + " | ".join(f"gain, {s}" for s in SPLITS) + " |")
    print("|" + "---|" * (1 + len(SPLITS)))
    base = values(first)
    for run in runs[1:]:
        files = agents(run).get("act-grpo-il", {})
        if files:
            mine = values(files)
            cells = [gain(mine, base, s) for s in SPLITS]
            print(f"| {run.name} | " + " | ".join(cells) + " |")


def success_table(runs: list[Path]) -> None:
    """Success and mean score per split over the episodes played, with paired gains over IL and
    IL -> IL on the same tasks and seeds."""
    base = played(runs[0])
    if not base:
        return
    print("\nEpisodes (success %, mean score %; gains paired over the same tasks and seeds):\n")
    print("| row | run | seeds | max steps | " + " | ".join(f"{s} success / score" for s in SPLITS)
          + " | " + " | ".join(f"success gain over IL, {s}" for s in SPLITS) + " | "
          + " | ".join(f"success gain over IL -> IL, {s}" for s in SPLITS) + " | "
          + " | ".join(f"score gain over IL, {s}" for s in SPLITS) + " |")
    print("|" + "---|" * (4 + 4 * len(SPLITS)))
    il, il_il = (episode_values(base.get(m, {})) for m in ("il", "il-il"))
    il_score = episode_values(base.get("il", {}), "score")
    for run in runs:
        order = sorted(played(run).items(), key=lambda kv: (kv[0] != "il", kv[0] != "il-il", kv))
        for method, files in order:
            if run != runs[0] and not method.startswith("act"):
                continue
            won, score = episode_values(files), episode_values(files, "score")
            seeds = sorted(files)
            cells = []
            for s in SPLITS:
                if not won.get(s):
                    cells.append("-")
                    continue
                rate = statistics.fmean(statistics.fmean(u.values()) for u in won[s].values())
                mean = statistics.fmean(statistics.fmean(u.values()) for u in score[s].values())
                cells.append(f"{pct(rate)} / {pct(mean)}")
            over_il = [gain(won, il, s) if method != "il" else "-" for s in SPLITS]
            over_ilil = [gain(won, il_il, s) if method not in ("il", "il-il") else "-"
                         for s in SPLITS]
            score_il = [gain(score, il_score, s) if method != "il" else "-" for s in SPLITS]
            steps = sorted({max_steps(run, method, seed) for seed in seeds}, key=str)
            print(f"| {method} | {run.name} | {len(seeds)} | {'/'.join(map(str, steps))} | "
                  + " | ".join(cells + over_il + over_ilil + score_il) + " |")


if __name__ == "__main__":
    main()
