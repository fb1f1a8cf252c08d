"""PNG plots for reports: agent success by method, the critic's held-out accuracy by shown
order, and training curves per stage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

# What each stage's curve shows: (log key, label) pairs, first match wins a panel line.
_STAGE_PANELS = {
    "act": ("ACT: judgment reward (GRPO) or loss (SFT, DPO)", ["reward", "loss"]),
    "il": ("IL: SFT loss", ["loss"]),
    "rl": ("RL: next-action reward", ["reward"]),
    "sr": ("Early Experience SR: SFT loss (rationale + action, and IL)", ["loss"]),
    "iwm": ("Early Experience IWM: next-observation SFT loss", ["loss"]),
}


def _pyplot():  # noqa: ANN202
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(plt, fig, path: Path) -> bool:  # noqa: ANN001 - pyplot and its figure
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def plot_success(
    table: dict[str, dict[str, list[float]]], splits: list[str], path: Path,
    episodes: dict[str, dict[str, tuple[int, int]]] | None = None,
) -> bool:
    """Grouped bars: success rate (mean over seeds, std as error bar) per method and split,
    each labelled with its value and n (`episodes`: distinct rollouts and episodes in all), so
    that a 0% bar still reads."""
    methods = [m for m in table if any(table[m].get(s) for s in splits)]
    if not methods:
        return False
    import statistics

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(5, 1.4 * len(methods) + 2), 4.2))
    width = 0.8 / len(splits)
    top = 0.0
    for j, split in enumerate(splits):
        means, errs = [], []
        for m in methods:
            values = [100 * v for v in table[m].get(split, [])]
            means.append(statistics.fmean(values) if values else 0.0)
            errs.append(statistics.stdev(values) if len(values) > 1 else 0.0)
        xs = [i + (j - (len(splits) - 1) / 2) * width for i in range(len(methods))]
        bars = ax.bar(xs, means, width, yerr=errs, capsize=3, label=split)
        for x, m, mean, err, bar in zip(xs, methods, means, errs, bars, strict=True):
            runs, total = (episodes or {}).get(m, {}).get(split, (0, 0))
            label = f"{mean:.0f}%\nn={runs}x{total // runs}" if runs else f"{mean:.0f}%"
            ax.text(x, mean + err + 1, label, ha="center", va="bottom", fontsize=7,
                    color=bar.get_facecolor())
            top = max(top, mean + err)
    ax.set_xticks(range(len(methods)), methods, rotation=20)
    ax.set_ylabel("success rate (%)")
    ax.set_ylim(0, min(100, max(20, top * 1.3 + 8)))
    ax.set_title("agent success, mean ± std over seeds (n = seeds x episodes)")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return _save(plt, fig, path)


def critic_points(results: dict[str, Any], checkpoint: str,
                  hard: bool = False) -> list[dict[str, Any]]:
    """Held-out critic figures of one ACT checkpoint by step (the hard set's, with `hard`): the
    base model at step 0, the curve recorded during training (`act.eval_every`), the final
    evaluation at the last step."""
    final_key = "critic_hard" if hard else "critic"
    base = results.get(final_key, {}).get("base")
    run = results.get("training", {}).get(checkpoint, {})
    points = [{"step": 0, **base}] if base else []
    curve = [p for p in run.get("critic_curve") or [] if p.get("step")]
    points += [{"step": p["step"], **p["hard"]} for p in curve if p.get("hard")] if hard \
        else curve
    final = results.get(final_key, {}).get(checkpoint)
    last = (run.get("length") or {}).get("steps") or max((p["step"] for p in points), default=0)
    if final and not any(p["step"] == last for p in points[1:]):
        points.append({"step": last, **final})
    return sorted(points, key=lambda p: p["step"])


def plot_critic(results: dict[str, Any], path: Path) -> bool:
    """Accuracy with the expert's action shown first and second, and their mean, against ACT
    steps: for each ACT checkpoint a panel on the hard set (where the run has one, first) and
    one on the held-out pairs; the line at chance is what naming one position always (or
    guessing) scores."""
    names = [n for n in results.get("critic", {}) if n != "base"]
    if not names:
        return False
    panels = [(name, hard) for name in names for hard in (True, False)
              if not hard or len(critic_points(results, name, hard=True)) > 0]
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.8), squeeze=False)
    for ax, (name, hard) in zip(axes[0], panels, strict=True):
        points = critic_points(results, name, hard)
        steps = [p["step"] for p in points]
        k = points[-1].get("candidates", 2) if points else 2
        for key, label, style in (("accuracy_expert_first", "expert shown first", "-"),
                                  ("accuracy_expert_second", "expert shown second", "--"),
                                  ("balanced_accuracy", "balanced (mean of orders)", "-")):
            values = [100 * p[key] if p.get(key) is not None else None for p in points]
            if any(v is not None for v in values):
                ax.plot(steps, values, style, marker="o", linewidth=2.2 if "balanced" in key
                        else 1.2, label=label)
        ax.axhline(100 / k, color="grey", linestyle=":", label=f"chance ({100 / k:.0f}%)")
        ax.set_ylim(0, 100)
        ax.set_xlabel("ACT step (0 = base model)")
        ax.set_ylabel(f"{'hard-set' if hard else 'held-out'} accuracy (%)")
        ax.set_title(f"critic `{name}`, {'hard set' if hard else 'held-out pairs'}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return _save(plt, fig, path)


def plot_training(training: dict[str, dict[str, Any]], path: Path,
                  chance_reward: float | None = None) -> bool:
    """One panel per stage kind (ACT, IL, RL), one line per trained checkpoint. The ACT reward
    panel marks `chance_reward`, what picking at random earns a step (its held-out accuracy by
    shown order has its own plot, `plot_critic`)."""
    def kind_of(stage: str) -> str:
        return "act" if stage.startswith("act") else stage  # act-sft, act-dpo: the ACT panel

    kinds = [k for k in _STAGE_PANELS if any(kind_of(t["stage"]) == k for t in training.values())]
    if not kinds:
        return False
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(kinds), figsize=(5.5 * len(kinds), 4), squeeze=False)
    for ax, kind in zip(axes[0], kinds, strict=True):
        title, keys = _STAGE_PANELS[kind]
        drawn_chance = False
        for name, run in training.items():
            if kind_of(run["stage"]) != kind:
                continue
            rows = [h for h in run["log_history"] if "step" in h and any(k in h for k in keys)]
            key = next(k for k in keys if any(k in h for h in rows)) if rows else None
            if key:
                ax.plot([h["step"] for h in rows], [h[key] for h in rows], linewidth=1,
                        label=name)
                if kind == "act" and key == "reward" and chance_reward is not None:
                    drawn_chance = True
        if drawn_chance:
            ax.axhline(chance_reward, color="grey", linestyle=":",
                       label=f"chance (random pick): {chance_reward:g}")
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return _save(plt, fig, path)
