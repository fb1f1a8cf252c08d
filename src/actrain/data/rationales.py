"""Self-reflection rationales: a teacher model explains, for each branched pair, why the expert's
action is better, having read where both actions led (Early Experience's self-reflection data).

The teacher writes greedily, once per (state, alternative) of `outcomes/train.jsonl`; each record
of `rationales/train.jsonl` is the outcome record with `rationale` (cleaned by
`prompts.clean_rationale`) and `teacher_output` (what the teacher wrote, for inspection). A
rationale that cleans to nothing is kept as "" and counted: the SR stage skips it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from actrain.distributed import map_sharded
from actrain.generation import generate
from actrain.prompts import (
    ActorView,
    clean_rationale,
    pair_state,
    rationale_prompt,
    render_state,
)


def rationale_prompts(
    tokenizer: PreTrainedTokenizerBase, outcomes: Sequence[dict[str, Any]], view: ActorView
) -> list[str]:
    """The teacher's prompt for each outcome record: the state as the agent sees it, both
    actions and what the game said after each."""
    return [
        rationale_prompt(
            tokenizer, render_state(pair_state(o), view.show_admissible), o["expert_action"],
            o["alternative"], o["expert_outcome"], o["alternative_outcome"],
        )
        for o in outcomes
    ]


def write_rationales(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    outcomes: Sequence[dict[str, Any]],
    view: ActorView,
    max_new_tokens: int,
    batch_size: int,
    dtype: str,
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """A rationale for every outcome record (greedy), and counts of usable and empty ones."""
    prompts = rationale_prompts(tokenizer, outcomes, view)

    def write(mine: list[str]) -> list[list[str]]:
        return generate(model, tokenizer, mine, max_new_tokens=max_new_tokens, temperature=0.0,
                        batch_size=batch_size, autocast=dtype, desc="writing rationales")

    written = map_sharded(write, prompts)  # split over processes when launched as several
    records = [
        {**o, "rationale": clean_rationale(text), "teacher_output": text}
        for o, (text,) in zip(outcomes, written, strict=True)
    ]
    usable = sum(bool(r["rationale"]) for r in records)
    return records, {"outcomes": len(records), "rationales": usable,
                     "empty": len(records) - usable}
