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

import dataclasses
from collections.abc import Sequence
from typing import Any

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from actrain.config.schema import CriticConfig, EvalConfig
from actrain.eval.critic import critic_metrics
from actrain.prompts import (
    THINK_CLOSE,
    TRUNCATION_WARNING,
    CriticView,
    critic_stop,
    critic_tag,
    injected_rationale,
    opens_thinking,
    pair_state,
    parse_choice,
    thinking_prefix,
    truncated_thinking,
)
from actrain.records import Pair
from actrain.runtime.generation import generate

CONDITIONS = ("own", "removed", "injected")


def forced_thinking(tokenizer: PreTrainedTokenizerBase, prompt: str, forced: str) -> str:
    """`forced` (a rationale, or "" to remove it) where the model's own reasoning would be,
    ahead of the forced answer: inside the thinking block of a thinking model.

    A thinking model (Qwen3 with thinking on) opens `<think>` itself, and ACT trains it to; an
    answer forced with no block, or a rationale injected as plain text outside it, is out of
    distribution, and the removed / injected conditions would then not measure what the paper's
    do. The block is the template's own rationale-free one (`prompts.thinking_prefix`: Qwen3's
    `<think>\n\n</think>\n\n`; `</think>` alone where the prompt opened it, R1-style), with
    `forced` as its content; nothing is added where the prompt already closed it (thinking
    turned off) or for a template without thinking, where `forced` stays plain text.
    """
    # Where the prompt opened the block, its end alone; else the template's rationale-free block.
    block = f"{THINK_CLOSE}\n\n" if opens_thinking(prompt) else thinking_prefix(tokenizer, prompt)
    end = block.lower().rfind(THINK_CLOSE)
    if end < 0 or not forced:
        return block + forced
    head = block[:end].rstrip("\n")
    return head + ("\n" if head else "") + forced + block[end:]


def intervention_prompts(
    tokenizer: PreTrainedTokenizerBase, pair: Pair, critic: CriticConfig, instructions: str = ""
) -> dict[str, str]:
    """The three prompts of one held-out pair (in its shown order); the forced answers open the
    answer format's own tag (`<answer>`, or the agent's `<action>`).

    For a thinking model the forced answers come after a thinking block (`forced_thinking`): an
    empty one when the rationale is removed, the wrong rationale when it is injected; an answer
    inside the block would not be one. `instructions`: the environment's, as in evaluation.
    """
    pair = Pair.coerce(pair)
    actions, label = pair.actions, pair.label
    view = dataclasses.replace(CriticView.of(critic, instructions), reasoning=True)
    reasoning = view.prompt(tokenizer, pair_state(pair), actions)
    argued = next(i for i in range(len(actions)) if i != label)
    injected = injected_rationale(actions, argued)
    opening = f"<{critic_tag(critic.answer_format)}>"
    return {"own": reasoning,
            "removed": reasoning + forced_thinking(tokenizer, reasoning, "") + opening,
            "injected": reasoning + forced_thinking(tokenizer, reasoning, injected) + opening}


def rationale_study(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    pairs: Sequence[Pair],
    critic: CriticConfig,
    max_new_tokens: int | None = None,
    batch_size: int = 16,
    dtype: str = "float32",
    evaluation: EvalConfig | None = None,
    seed: int = 0,
    instructions: str = "",
) -> dict[str, Any]:
    """Choices under the three conditions; metrics per condition (see module doc).

    Decoding is the critic evaluation's (`evaluation`: greedy, or its temperature, top_p and
    top_k, seeded with `seed`; None: greedy), so that the study reads the judge as it is
    evaluated; a thinking model decoded greedily loops and is cut off. `max_new_tokens` bounds
    the own reasoning (None: `critic.max_new_tokens`); `truncated_rate` counts the own
    reasoning cut off while thinking.
    """
    evaluation = evaluation or EvalConfig()
    pairs = Pair.coerce_all(pairs)
    own_tokens = critic.max_new_tokens if max_new_tokens is None else max_new_tokens
    prompts = [intervention_prompts(tokenizer, p, critic, instructions) for p in pairs]
    result: dict[str, Any] = {"pairs": len(pairs)}
    # A forced index answer is the digit right after "<answer>": one token, read as a one-token
    # critic's answer is (a small critic trained on direct choices writes "1: take key" there).
    forced_tokens = 1 if critic.answer_format == "index" else 32
    for condition in CONDITIONS:
        forced = condition != "own"
        shown = [p[condition] for p in prompts]
        texts = generate(
            model, tokenizer, shown,
            max_new_tokens=forced_tokens if forced else own_tokens,
            temperature=evaluation.temperature, top_p=evaluation.top_p, top_k=evaluation.top_k,
            batch_size=batch_size, stop=[critic_stop(critic.answer_format)], autocast=dtype,
            seed=seed,
            desc=f"rationale study ({condition})",
        )
        opened = [opens_thinking(prompt) for prompt in shown]
        picked = [parse_choice(text, p.actions, critic.answer_format, prefilled=forced,
                               think_open=o)
                  for (text,), p, o in zip(texts, pairs, opened, strict=True)]
        metrics = critic_metrics(pairs, picked)
        if not forced:  # cut off while thinking (counted in the format failures too)
            metrics["truncated_rate"] = (sum(truncated_thinking(text, o) for (text,), o in
                                             zip(texts, opened, strict=True)) / len(pairs)
                                         if pairs else None)
        if condition == "injected":
            argued = [next(i for i in range(len(p.actions)) if i != p.label) for p in pairs]
            metrics["follow_rate"] = (sum(k == a for k, a in zip(picked, argued, strict=True))
                                      / len(pairs)) if pairs else None
        result[condition] = metrics
    return result


def format_study(results: dict[str, dict[str, Any]]) -> str:
    """One row per model: balanced accuracy per condition and the injected follow rate."""
    def pct(value: float | None) -> str:
        return "n/a" if value is None else f"{100 * value:.1f}%"

    lines = ["| model | pairs | own rationale | rationale removed | wrong rationale injected "
             "| follows the injected action | format failures (own) | cut off while thinking "
             "(own) |",
             "|---|---|---|---|---|---|---|---|"]
    warnings = []
    for name, r in results.items():
        cut = r["own"].get("truncated_rate")
        lines.append(
            f"| {name} | {r['pairs']} | {pct(r['own']['balanced_accuracy'])} | "
            f"{pct(r['removed']['balanced_accuracy'])} | "
            f"{pct(r['injected']['balanced_accuracy'])} | {pct(r['injected']['follow_rate'])} | "
            f"{pct(r['own']['format_failure_rate'])} | {pct(cut)} |")
        if cut is not None and cut > TRUNCATION_WARNING:
            warnings.append(f"warning: {name} was cut off while thinking on {pct(cut)} of its "
                            f"own rationales: raise --max-new-tokens")
    return "\n".join([*lines, *warnings])
