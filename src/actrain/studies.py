"""Studies of a trained critic beyond its accuracy (`actrain study NAME`).

**Rationale intervention** (the paper's study on 400 held-out ALFWorld pairs): does the judge's
choice depend on its reasoning? On the run's held-out pairs, each in both orders, the same
checkpoint judges three times:

- `own`: the reasoning prompt, the model writes its reasoning and then its answer;
- `removed`: the same prompt with the answer forced right after it (`<answer>` prefilled, the
  next token read as the answer);
- `injected`: the same prompt with a rationale arguing for the non-expert action prefilled
  (`prompts.injected_rationale`), then `<answer>`; `follow_rate` is the share of answers that
  pick the argued action.

Balanced accuracy (the mean over the expert's positions) and format failures per condition. The
paper's ACT model: 86.50% own, 80.75% removed, 50.75% injected; untrained: 2.25% injected.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from actrain.config import CriticConfig
from actrain.evaluate import critic_metrics
from actrain.generation import generate
from actrain.prompts import (
    critic_prompt,
    injected_rationale,
    pair_state,
    parse_choice,
    render_state,
)

CONDITIONS = ("own", "removed", "injected")


def intervention_prompts(
    tokenizer: PreTrainedTokenizerBase, pair: dict[str, Any], critic: CriticConfig
) -> dict[str, str]:
    """The three prompts of one held-out pair (in its shown order)."""
    actions, label = pair["actions"], pair["label"]
    reasoning = critic_prompt(
        tokenizer, render_state(pair_state(pair), critic.show_admissible, critic.show_context),
        actions, reasoning=True, answer_format=critic.answer_format,
    )
    argued = next(i for i in range(len(actions)) if i != label)
    return {"own": reasoning, "removed": reasoning + "<answer>",
            "injected": reasoning + injected_rationale(actions, argued) + "<answer>"}


def rationale_study(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    pairs: Sequence[dict[str, Any]],
    critic: CriticConfig,
    max_new_tokens: int = 128,
    batch_size: int = 16,
    dtype: str = "float32",
) -> dict[str, Any]:
    """Greedy choices under the three conditions; metrics per condition (see module doc)."""
    prompts = [intervention_prompts(tokenizer, p, critic) for p in pairs]
    result: dict[str, Any] = {"pairs": len(pairs)}
    # A forced index answer is the digit right after "<answer>": one token, read as a one-token
    # critic's answer is (a small critic trained on direct choices writes "1: take key" there).
    forced_tokens = 1 if critic.answer_format == "index" else 32
    for condition in CONDITIONS:
        forced = condition != "own"
        texts = generate(
            model, tokenizer, [p[condition] for p in prompts],
            max_new_tokens=forced_tokens if forced else max_new_tokens, temperature=0.0,
            batch_size=batch_size, stop=["</answer>"], autocast=dtype,
            desc=f"rationale study ({condition})",
        )
        picked = [parse_choice(text, p["actions"], critic.answer_format, prefilled=forced)
                  for (text,), p in zip(texts, pairs, strict=True)]
        metrics = critic_metrics(pairs, picked)
        if condition == "injected":
            argued = [next(i for i in range(len(p["actions"])) if i != p["label"]) for p in pairs]
            metrics["follow_rate"] = (sum(k == a for k, a in zip(picked, argued, strict=True))
                                      / len(pairs)) if pairs else None
        result[condition] = metrics
    return result


def format_study(results: dict[str, dict[str, Any]]) -> str:
    """One row per model: balanced accuracy per condition and the injected follow rate."""
    def pct(value: float | None) -> str:
        return "n/a" if value is None else f"{100 * value:.1f}%"

    lines = ["| model | pairs | own rationale | rationale removed | wrong rationale injected "
             "| follows the injected action | format failures (own) |",
             "|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        lines.append(
            f"| {name} | {r['pairs']} | {pct(r['own']['balanced_accuracy'])} | "
            f"{pct(r['removed']['balanced_accuracy'])} | "
            f"{pct(r['injected']['balanced_accuracy'])} | {pct(r['injected']['follow_rate'])} | "
            f"{pct(r['own']['format_failure_rate'])} |")
    return "\n".join(lines)
