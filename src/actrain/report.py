"""`report.md` for a run: critic accuracy before and after ACT, data statistics, curves as PNG."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from actrain.config import RunConfig
from actrain.io import read_json, read_jsonl, write_atomic

_METRICS = (
    ("balanced_accuracy", "balanced accuracy"),
    ("accuracy_expert_first", "acc. expert first"),
    ("accuracy_expert_second", "acc. expert second"),
    ("format_failure_rate", "format failures"),
    ("picks_first_rate", "picks position 1"),
)


def _pct(value: Any) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def critic_table(rows: dict[str, dict[str, Any]]) -> str:
    header = "| checkpoint | pairs | " + " | ".join(label for _, label in _METRICS) + " |"
    lines = [header, "|" + "---|" * (len(_METRICS) + 2)]
    for name, m in rows.items():
        cells = " | ".join(_pct(m.get(key)) for key, _ in _METRICS)
        lines.append(f"| {name} | {m.get('pairs', 0)} | {cells} |")
    return "\n".join(lines)


def plot_training(
    log_history: list[dict[str, Any]], curve: list[dict[str, Any]], path: Path
) -> bool:
    """Reward and accuracy per GRPO step, and the held-out curve if one was recorded."""
    steps = [h for h in log_history if "reward" in h and "step" in h]
    if not steps and not curve:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = 2 if curve else 1
    fig, axes = plt.subplots(1, panels, figsize=(6 * panels, 4), squeeze=False)
    ax = axes[0][0]
    x = [h["step"] for h in steps]
    for key, label in (
        ("reward", "reward"),
        ("rewards/accuracy/mean", "train accuracy"),
        ("rewards/format_ok/mean", "format ok"),
        ("frac_reward_zero_std", "zero-variance groups"),
    ):
        ys = [h.get(key) for h in steps]
        if any(y is not None for y in ys):
            ax.plot(x, ys, label=label, linewidth=1)
    ax.set_xlabel("GRPO step")
    ax.set_title("ACT training (per step)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    if curve:
        ax = axes[0][1]
        cx = [c["step"] for c in curve]
        for key, label in _METRICS[:3]:
            ax.plot(cx, [c.get(key) for c in curve], marker="o", label=label, linewidth=1)
        ax.axhline(0.5, color="grey", linestyle="--", linewidth=0.8)
        ax.set_ylim(0, 1)
        ax.set_xlabel("GRPO step")
        ax.set_title("held-out critic accuracy")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def pair_line(split: str, s: dict[str, int]) -> str:
    kept = s["from_policy"] + s["random_fallback"]
    share = f"{100 * s['random_fallback'] / kept:.0f}%" if kept else "n/a"
    return (
        f"- pairs `{split}`: {s['states']} expert states, {kept} alternatives: "
        f"{s['from_policy']} sampled from the base policy, {s['random_fallback']} random "
        f"admissible fallbacks ({share}); of {s['candidates']} sampled candidates "
        f"{s['malformed']} were malformed, {s['not_admissible']} not admissible, "
        f"{s['equals_expert']} equal to the expert, {s['duplicate']} duplicates"
    )


def training_summary(history: list[dict[str, Any]], last: int = 10) -> str:
    steps = [h for h in history if "reward" in h][-last:]
    if not steps:
        return ""

    def mean(key: str) -> str:
        values = [h[key] for h in steps if h.get(key) is not None]
        return f"{sum(values) / len(values):.2f}" if values else "n/a"

    return (
        f"reward {mean('reward')}, accuracy {mean('rewards/accuracy/mean')} (expert first "
        f"{mean('rewards/accuracy_expert_first/mean')}, second "
        f"{mean('rewards/accuracy_expert_second/mean')}), format ok "
        f"{mean('rewards/format_ok/mean')}, zero-variance groups {mean('frac_reward_zero_std')}."
    )


def _maybe_json(path: Path, default: Any) -> Any:
    return read_json(path) if path.exists() else default


def write_report(run_dir: Path, config: RunConfig) -> Path:
    critic = {}
    for which, label in (("base", f"base ({config.model})"), ("act", "after ACT")):
        metrics = _maybe_json(run_dir / "critic" / f"{which}.json", None)
        if metrics is not None:
            critic[label] = metrics
    act_dir = run_dir / "act"
    history = _maybe_json(act_dir / "log_history.json", [])
    curve_file = act_dir / "critic_curve.jsonl"
    curve = read_jsonl(curve_file) if curve_file.exists() else []
    plotted = plot_training(history, curve, run_dir / "plots" / "act_training.png")
    stages = _maybe_json(run_dir / "stages.json", {})
    pair_stats = _maybe_json(run_dir / "pairs" / "stats.json", {})
    traj_stats = _maybe_json(run_dir / "trajectories" / "stats.json", {})

    lines = [
        f"# actrain run `{config.name}`",
        "",
        f"Environment `{config.env.id}`, model `{config.model}`, seed {config.seed}, "
        f"dtype {config.dtype}. Critic: reasoning {'on' if config.critic.reasoning else 'off'}, "
        f"answer format `{config.critic.answer_format}`. ACT: {config.act.max_steps} GRPO steps, "
        f"{config.act.prompts_per_step} prompts x {config.act.num_generations} samples, "
        f"lr {config.act.learning_rate}, beta {config.act.beta}.",
        "",
        "## Held-out critic accuracy (id_test pairs, each shown in both orders)",
        "",
        "Balanced accuracy is the mean of the two order-wise accuracies: always naming the same "
        "position scores exactly 50%. Format failures count as wrong.",
        "",
        critic_table(critic) if critic else "_no critic evaluation yet_",
        "",
    ]
    if plotted:
        lines += ["## Training curves", "", "![ACT training](plots/act_training.png)", ""]
    if curve:
        lines += ["Held-out balanced accuracy during ACT:", "",
                  "| step | balanced | expert first | expert second | format failures |",
                  "|---|---|---|---|---|"]
        lines += [
            f"| {c['step']} | {_pct(c.get('balanced_accuracy'))} | "
            f"{_pct(c.get('accuracy_expert_first'))} | {_pct(c.get('accuracy_expert_second'))} | "
            f"{_pct(c.get('format_failure_rate'))} |"
            for c in curve
        ]
        lines.append("")
    summary = training_summary(history)
    if summary:
        lines += ["Last 10 GRPO steps (training batches): " + summary, ""]
    if traj_stats or pair_stats:
        lines += ["## Data", ""]
        for split, s in traj_stats.items():
            lines.append(
                f"- expert trajectories `{split}`: {s['kept']} of {s['tasks']} tasks kept "
                f"({s['expert_not_won']} not won by the expert)"
            )
        for split, s in pair_stats.items():
            lines.append(pair_line(split, s))
        lines.append("")
    if stages:
        total = sum(v.get("seconds", 0) for v in stages.values())
        lines += ["## Stage timings", "", "| stage | seconds |", "|---|---|"]
        lines += [f"| {k} | {v.get('seconds')} |" for k, v in stages.items()]
        lines += [f"| total | {total:.0f} |", ""]
    path = run_dir / "report.md"
    write_atomic(path, "\n".join(lines))
    return path
