"""What a report says of the critic: the hard critic set first (the headline: pairs where
surface rules are at chance), the run's own held-out pairs beside it, and the no-model rules on
both (`eval/rule_critics.py`). Pure functions of a run's results and prediction files, as
`report/agent.py` is of the agents."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from actrain.data.hard_pairs import ALTERNATIVE_KINDS, alternative_kind
from actrain.prompts import first_word
from actrain.report.agent import pct
from actrain.report.plots import plot_critic
from actrain.runtime.io import read_predictions
from actrain.runtime.run_folder import RunFolder

_METRICS = (
    ("balanced_accuracy", "balanced accuracy"),
    ("accuracy_expert_first", "acc. expert first"),
    ("accuracy_expert_second", "acc. expert second"),
    ("format_failure_rate", "format failures"),
    ("picks_first_rate", "picks position 1"),
)


def _cell(m: dict[str, Any], key: str) -> str:
    """A metric, with its std over sampled evaluations beside it where there were several."""
    std = m.get(f"{key}_std")
    if std is None or m.get(key) is None:
        return pct(m.get(key))
    return f"{pct(m[key])} ± {100 * std:.1f}"


def critic_table(rows: dict[str, dict[str, Any]]) -> str:
    """Critic metrics per checkpoint; `truncated_rate` beside them where the evaluation
    recorded it, and mean ± std where it was sampled several times (`eval.samples`)."""
    metrics = list(_METRICS)
    if any(m.get("truncated_rate") is not None for m in rows.values()):
        metrics.append(("truncated_rate", "cut off while thinking"))
    header = "| checkpoint | pairs | " + " | ".join(label for _, label in metrics) + " |"
    lines = [header, "|" + "---|" * (len(metrics) + 2)]
    for name, m in rows.items():
        cells = " | ".join(_cell(m, key) for key, _ in metrics)
        samples = f" ({m['samples']} samples)" if m.get("samples", 1) > 1 else ""
        lines.append(f"| {name}{samples} | {m.get('pairs', 0)} | {cells} |")
    kway = {name: m for name, m in rows.items() if m.get("candidates", 2) > 2}
    if kway:  # K-way choice: "expert second" pools every later position; show each one
        lines += ["", "K-way choice, accuracy by the expert's position (1, 2, ...; chance is "
                  "1/K):", ""]
        lines += [f"- {name} (K = {m['candidates']}): " + ", ".join(
            pct(a) for a in m.get("accuracy_by_position", [])) for name, m in kway.items()]
    return "\n".join(lines)


def _orders(m: dict[str, Any] | None) -> str:
    """Balanced accuracy with the two shown orders beside it."""
    if not m:
        return "n/a"
    return (f"{pct(m.get('balanced_accuracy'))} ({pct(m.get('accuracy_expert_first'))} / "
            f"{pct(m.get('accuracy_expert_second'))})")


def side_by_side(results: dict[str, Any]) -> str:
    """Every checkpoint on the hard set and on the run's held-out pairs, with the no-model
    rules as rows of their own on the same pairs."""
    hard, heldout = results.get("critic_hard", {}), results["critic"]
    rules = results.get("rules", {})
    lines = ["| critic | hard set (expert first / second) | held-out pairs (expert first / "
             "second) |", "|---|---|---|"]
    for name in heldout:
        lines.append(f"| {name} | {_orders(hard.get(name))} | {_orders(heldout[name])} |")
    for rule, label in (("first_word", "rule: the expert's more frequent first word"),
                        ("whole_action", "rule: the action experts wrote more often")):
        cells = [pct(rules.get(s, {}).get(rule)) for s in ("hard", "heldout")]
        lines.append(f"| _{label}_ (no model) | {cells[0]} | {cells[1]} |")
    return "\n".join(lines)


def headline(results: dict[str, Any]) -> list[str]:
    """The verdict's critic line: the best checkpoint on the hard set against the best rule."""
    hard = {n: m for n, m in results.get("critic_hard", {}).items()
            if m.get("balanced_accuracy") is not None}
    if not hard:
        return []
    name = max((n for n in hard if n != "base"), key=lambda n: hard[n]["balanced_accuracy"],
               default="base")
    best_rule = results.get("rules", {}).get("hard", {}).get("best")
    base = hard.get("base", {}).get("balanced_accuracy")
    m = hard[name]
    return [f"- critic on the hard set ({m.get('pairs', 0)} prompts: same-kind alternatives "
            f"verified worse): **{pct(m['balanced_accuracy'])}** balanced for `{name}` "
            f"(expert first {pct(m.get('accuracy_expert_first'))}, second "
            f"{pct(m.get('accuracy_expert_second'))}); untrained {pct(base)}, best no-model "
            f"rule {pct(best_rule)}"]


def critic_section(run_dir: Path, results: dict[str, Any]) -> list[str]:
    """The report's critic part: the side-by-side table, the hard set's make-up, then the
    held-out pairs' detail (by shown order, by kind of alternative)."""
    config = results["config"]
    k = config.get("critic", {}).get("candidates", 2)
    lines = ["## Critic", ""]
    hard = results.get("data", {}).get("hard_set") or {}
    if hard:
        verbs = ", ".join(f"`{v}` {n}" for v, n in hard.get("by_verb", {}).items())
        lines += [
            f"The **hard set** is {hard.get('pairs', 0)} pairs from the expert states of "
            f"{hard.get('trajectories', 0)} held-out `{config.get('hard_set', {}).get('split')}`"
            f" tasks, shown in both orders: the alternative is the same kind of action as the "
            f"expert's (its first word: {verbs or 'none'}), verified worse by the environment "
            f"({hard.get('check')} check; {hard.get('verified_worse', 0)} of "
            f"{hard.get('checked', 0)} same-kind candidates were). The first-word rule is at "
            "chance on it by construction; a critic above the rules there reads the state.", ""]
    lines += ["Balanced accuracy (the mean over both shown orders: naming one position always "
              "scores 50%), format failures counted wrong; the rules are learnt from the run's "
              "training pairs and trajectories and ignore the order.", "",
              side_by_side(results), ""]
    shown = "each shown in both orders" if k == 2 else \
        f"{k}-way, the expert's action shown at each position"
    lines += [f"### Held-out pairs (id_test, {shown})", "", critic_table(results["critic"]), ""]
    if plot_critic(results, RunFolder(run_dir).plot("critic")):
        lines += ["![held-out critic accuracy by shown order](plots/critic.png)", ""]
    kinds = by_alternative_kind(run_dir, list(results["critic"]))
    if kinds:
        lines += ["Balanced accuracy by the kind of alternative (expert shown first / second), "
                  "on the held-out pairs and the hard set: a critic that learnt one kind and "
                  "names a position on the others is at 50% there, with one order near 0%.",
                  "", kinds, ""]
    breakdown = by_alternative_verb(run_dir, list(results["critic"]))
    if breakdown:
        lines += ["Balanced accuracy by the kind of alternative (its first word; the most "
                  "frequent kinds, pairs counted in both orders):", "", breakdown, ""]
    if results.get("critic_hard"):
        lines += ["### Hard set", "", critic_table(results["critic_hard"]), ""]
    return lines


def _kind_rows(path: Path) -> dict[str, list[tuple[bool, bool]]]:
    """(expert first, correct) of every two-action prediction in `path`, by alternative kind."""
    rows: dict[str, list[tuple[bool, bool]]] = {}
    for row in read_predictions(path) if path.exists() else []:
        if len(row.actions) == 2:  # K-way items have no one alternative
            kind = alternative_kind(row.actions[row.label], row.actions[1 - row.label])
            rows.setdefault(kind, []).append((row.expert_first, row.correct))
    return rows


def _balanced_orders(rows: list[tuple[bool, bool]]) -> str:
    """Balanced accuracy (expert first / second) of (expert first, correct) rows."""
    parts = [[ok for first, ok in rows if first == want] for want in (True, False)]
    shares = [sum(p) / len(p) if p else None for p in parts]
    known = [x for x in shares if x is not None]
    if not known:
        return "n/a"
    return f"{pct(sum(known) / len(known))} ({pct(shares[0])} / {pct(shares[1])})"


def by_alternative_kind(run_dir: Path, checkpoints: list[str]) -> str:
    """Per checkpoint, balanced accuracy and both shown orders by the kind of alternative
    (`data.hard_pairs.alternative_kind`), on the held-out pairs and on the hard set."""
    folder = RunFolder(run_dir)
    sets = (("held-out", folder.critic_predictions),
            ("hard set", lambda n: folder.predictions_file(folder.hard_critic_file(n))))
    found = {(label, name): _kind_rows(path(name)) for label, path in sets
             for name in checkpoints}
    names = [n for n in checkpoints if any(found[(label, n)] for label, _ in sets)]
    if not names:
        return ""
    lines = ["| pairs | kind of alternative | n | " + " | ".join(f"`{n}`" for n in names) + " |",
             "|" + "---|" * (len(names) + 3)]
    for label, _ in sets:
        for kind in ALTERNATIVE_KINDS:
            counts = [len(found[(label, n)].get(kind, [])) for n in names]
            if not any(counts):
                continue
            cells = " | ".join(_balanced_orders(found[(label, n)].get(kind, [])) for n in names)
            lines.append(f"| {label} | {kind} | {max(counts)} | {cells} |")
    return "\n".join(lines)


def by_alternative_verb(run_dir: Path, checkpoints: list[str], top: int = 6) -> str:
    """Held-out balanced accuracy by the alternative's first word, per checkpoint.

    Shows what a critic has learnt to reject: a critic that only learnt "never inventory" is
    right on those pairs and at chance on the rest.
    """
    tables: dict[str, dict[str, list[tuple[bool, bool]]]] = {}
    for name in checkpoints:
        path = RunFolder(run_dir).critic_predictions(name)
        if not path.exists():
            continue
        for row in read_predictions(path):
            if len(row.actions) != 2:  # K-way items have no one alternative
                continue
            verb = first_word(row.actions[1 - row.label])
            tables.setdefault(verb, {}).setdefault(name, []).append((row.expert_first,
                                                                     row.correct))
    if not tables:
        return ""
    names = [n for n in checkpoints if any(n in t for t in tables.values())]

    def balanced(rows: list[tuple[bool, bool]]) -> str:
        parts = [[ok for first, ok in rows if first == want] for want in (True, False)]
        shares = [sum(p) / len(p) for p in parts if p]
        return pct(sum(shares) / len(shares)) if shares else "n/a"

    verbs = sorted(tables, key=lambda v: -len(next(iter(tables[v].values()))))[:top]
    lines = ["| alternative starts with | pairs | " + " | ".join(names) + " |",
             "|" + "---|" * (len(names) + 2)]
    for verb in verbs:
        count = len(next(iter(tables[verb].values())))
        cells = " | ".join(balanced(tables[verb].get(n, [])) for n in names)
        lines.append(f"| `{verb}` | {count} | {cells} |")
    return "\n".join(lines)
