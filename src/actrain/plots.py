"""PNG plots for reports: agent success by method, and training curves per stage."""

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


def plot_success(
    table: dict[str, dict[str, list[float]]], splits: list[str], path: Path
) -> bool:
    """Grouped bars: success rate (mean over seeds, std as error bar) per method and split."""
    methods = [m for m in table if any(table[m].get(s) for s in splits)]
    if not methods:
        return False
    import statistics

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(5, 1.2 * len(methods) + 2), 4))
    width = 0.8 / len(splits)
    for j, split in enumerate(splits):
        means, errs = [], []
        for m in methods:
            values = [100 * v for v in table[m].get(split, [])]
            means.append(statistics.fmean(values) if values else 0.0)
            errs.append(statistics.stdev(values) if len(values) > 1 else 0.0)
        xs = [i + (j - (len(splits) - 1) / 2) * width for i in range(len(methods))]
        ax.bar(xs, means, width, yerr=errs, capsize=3, label=split)
    ax.set_xticks(range(len(methods)), methods, rotation=20)
    ax.set_ylabel("success rate (%)")
    ax.set_ylim(0, 100)
    ax.set_title("agent success (mean ± std over seeds)")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def plot_training(training: dict[str, dict[str, Any]], path: Path) -> bool:
    """One panel per stage kind (ACT, IL, RL), one line per trained checkpoint.

    The ACT panel also marks the held-out critic balanced accuracy when it was recorded.
    """
    def kind_of(stage: str) -> str:
        return "act" if stage.startswith("act") else stage  # act-sft, act-dpo: the ACT panel

    kinds = [k for k in _STAGE_PANELS if any(kind_of(t["stage"]) == k for t in training.values())]
    if not kinds:
        return False
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(kinds), figsize=(5.5 * len(kinds), 4), squeeze=False)
    for ax, kind in zip(axes[0], kinds, strict=True):
        title, keys = _STAGE_PANELS[kind]
        for name, run in training.items():
            if kind_of(run["stage"]) != kind:
                continue
            rows = [h for h in run["log_history"] if "step" in h and any(k in h for k in keys)]
            key = next(k for k in keys if any(k in h for h in rows)) if rows else None
            if key:
                line = ax.plot([h["step"] for h in rows], [h[key] for h in rows],
                               linewidth=1, label=name)[0]
                curve = run.get("critic_curve") or []
                if curve:
                    ax.plot([c["step"] for c in curve],
                            [c.get("balanced_accuracy") for c in curve], marker="o",
                            linestyle="--", color=line.get_color(),
                            label=f"{name} held-out balanced acc.")
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True
