"""Critic evaluation: how often a checkpoint picks the expert's action on held-out pairs.

Held-out pairs come in both shown orders, so we report accuracy with the expert shown first, shown
second, and their mean, the *balanced accuracy*: a model that always names the same position
scores exactly 50% on it, whatever the share of orders. Format failures count as wrong.
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Sequence
from typing import Any

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from actrain.config.schema import CriticConfig, EvalConfig
from actrain.prompts import (
    CriticView,
    critic_prompts,
    critic_stop,
    opens_thinking,
    parse_choice,
    truncated_thinking,
)
from actrain.records import CriticPrediction, Pair
from actrain.runtime.distributed import map_sharded
from actrain.runtime.generation import generate


def critic_metrics(pairs: Sequence[Pair], picked: Sequence[int | None]) -> dict[str, Any]:
    """Accuracy by shown order, balanced accuracy, format failures and position preference."""

    def share(rows: list[tuple[Pair, int | None]]) -> float | None:
        if not rows:
            return None
        return sum(p == pair.label for pair, p in rows) / len(rows)

    rows = list(zip(pairs, picked, strict=True))
    first = share([r for r in rows if r[0].expert_first])
    second = share([r for r in rows if not r[0].expert_first])  # (K-way: any later position)
    k = max([2, *(len(pair.actions) for pair, _ in rows)])
    by_position = [share([r for r in rows if r[0].label == i]) for i in range(k)]
    parts = [x for x in by_position if x is not None]
    answered = [p for _, p in rows if p is not None]
    return {
        "pairs": len(rows),
        "candidates": k,
        "accuracy": share(rows),
        "accuracy_expert_first": first,
        "accuracy_expert_second": second,
        "accuracy_by_position": by_position,  # the expert's action shown at position 1, 2, ...
        "balanced_accuracy": sum(parts) / len(parts) if parts else None,
        "format_failure_rate": sum(p is None for _, p in rows) / len(rows) if rows else None,
        "picks_first_rate": (sum(p == 0 for p in answered) / len(answered)) if answered else None,
    }


def evaluate_critic(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    pairs: Sequence[Pair],
    critic: CriticConfig,
    evaluation: EvalConfig,
    dtype: str = "float32",
    seed: int = 0,
    synced: bool = False,
    instructions: str = "",
) -> tuple[dict[str, Any], list[CriticPrediction]]:
    """Ask the model to judge every pair; returns (metrics, per-pair predictions).

    K-way (`critic.candidates` > 2): the pairs of each state are judged as one K-way item, in
    all K positions of the expert's action (`data/kway.py`). `synced`: the model is split
    across the processes (ZeRO-3, FSDP), so they generate in step (`generation.generate`).
    Decoding is `evaluation`'s (temperature, top_p, top_k); with `evaluation.samples` > 1 the
    pairs are judged that many times, seeded `seed`, `seed + 1`, ..., because one sampled run
    of a few hundred pairs says little about a difference of a few points: the metrics are then
    the runs' mean with their std (`mean_of_runs`), and the predictions of every run are kept,
    each with its `sample`. `instructions`: the environment's (`TextEnv.instructions`), shown
    to the judge as in training.
    """
    pairs = judged_items(Pair.coerce_all(pairs), critic, evaluation)
    prompts = critic_prompts(tokenizer, pairs, CriticView.of(critic, instructions))
    # A template may open the thinking block in the prompt (R1-style): then the completion
    # starts inside it, and is parsed and counted as truncated from there.
    think_open = [opens_thinking(p) for p in prompts]
    runs: list[dict[str, Any]] = []
    predictions: list[CriticPrediction] = []
    for sample in range(evaluation.samples):
        texts = _judge(model, tokenizer, prompts, critic, evaluation, dtype, seed + sample,
                       synced)
        picked = [
            parse_choice(text, p.actions, critic.answer_format, prefilled=not critic.reasoning,
                         think_open=opened)
            for text, p, opened in zip(texts, pairs, think_open, strict=True)
        ]
        predictions += [
            CriticPrediction.of(p, k, text, sample if evaluation.samples > 1 else None)
            for p, k, text in zip(pairs, picked, texts, strict=True)
        ]
        runs.append(_run_metrics(pairs, picked, texts, think_open))
    return (runs[0] if len(runs) == 1 else mean_of_runs(runs)), predictions


def judged_items(pairs: list[Pair], critic: CriticConfig, evaluation: EvalConfig) -> list[Pair]:
    """What the critic is shown: the pairs, or (`critic.candidates` > 2) the K-way items of
    their states in every position; the first `evaluation.max_pairs` of them (0: all)."""
    if critic.candidates > 2:
        from actrain.data.kway import kway_items

        pairs, _ = kway_items([p for p in pairs if p.expert_first], critic.candidates,
                              all_positions=True)
    if evaluation.max_pairs:
        pairs = pairs[: evaluation.max_pairs]
    return pairs


def hard_set_evaluation(evaluation: EvalConfig) -> EvalConfig:
    """The settings a hard set is judged with: the run's, over every pair of it. The set is small
    and the same for every checkpoint, and `eval.max_pairs` caps only the held-out pairs."""
    return dataclasses.replace(evaluation, max_pairs=0)


def _judge(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, prompts: list[str],
    critic: CriticConfig, evaluation: EvalConfig, dtype: str, seed: int, synced: bool,
) -> list[str]:
    """One completion a prompt, decoded as `evaluation` says and seeded `seed`."""
    def judge(shown: list[str]) -> list[list[str]]:
        return generate(
            model, tokenizer, shown, max_new_tokens=critic.max_new_tokens,
            temperature=evaluation.temperature, top_p=evaluation.top_p,
            top_k=evaluation.top_k, batch_size=evaluation.batch_size,
            stop=[critic_stop(critic.answer_format)],
            autocast=dtype, seed=seed, desc="critic eval", synced=synced,
        )

    # split over processes when launched as several
    return [c[0] for c in map_sharded(judge, prompts, even=synced)]


def _run_metrics(pairs: Sequence[Pair], picked: Sequence[int | None], texts: Sequence[str],
                 think_open: Sequence[bool]) -> dict[str, Any]:
    """One evaluation's metrics, with the share of answers cut off while thinking (counted in
    the format failures too: raise critic.max_new_tokens)."""
    metrics = critic_metrics(pairs, picked)
    metrics["truncated_rate"] = (
        sum(truncated_thinking(text, opened) for text, opened in
            zip(texts, think_open, strict=True)) / len(texts)
        if texts else None
    )
    return metrics


def mean_of_runs(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The metrics of several sampled evaluations of the same pairs: each number their mean,
    with its std over the runs beside it (`<key>_std`), and every run's own metrics in `runs`.

    Keys keep their single-run meaning, so reports and curves read either alike; the std says
    how much of a difference between checkpoints sampling alone can make.
    """
    merged: dict[str, Any] = {"samples": len(runs)}
    for key, first in runs[0].items():
        values = [r.get(key) for r in runs]
        if isinstance(first, bool) or not isinstance(first, (int, float, list)) or None in values:
            merged[key] = first
        elif isinstance(first, list):  # accuracy_by_position: position by position
            columns = list(zip(*values, strict=True))
            merged[key] = [None if None in col else statistics.fmean(col) for col in columns]
        elif key in ("pairs", "candidates"):
            merged[key] = first
        else:
            merged[key] = statistics.fmean(values)
            merged[f"{key}_std"] = statistics.stdev(values)
    merged["runs"] = list(runs)
    return merged
