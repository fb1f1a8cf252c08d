"""Self-reflection rationales: a teacher model explains, for each expert state, why the expert's
action is better, having read where it and the state's alternatives led (Early Experience's
self-reflection data, arXiv 2510.08558).

As in Early Experience, one reflection compares the expert's action with every alternative of its
state at once (K of them: `alternatives.per_state`, the K the pairs were sampled with; the paper
finds K = 2-4 best), so the teacher explains a choice among several outcomes rather than one
contrast at a time. The teacher writes greedily, once per state of `outcomes/train.jsonl`; each
record of `rationales/train.jsonl` is the state's first outcome record with `alternatives` and
`alternative_outcomes` (all K, in file order), `rationale` and `teacher_output` (what the teacher
wrote, for inspection).

The rationale is read from the teacher's answer, after its thinking block (`prompts.answer_region`):
a thinking teacher (Qwen3 with thinking on) opens with "Okay, let's see. The user wants ...",
which is the teacher talking to itself, not a reason an agent could give before its action. A
teacher cut off while still thinking has no answer: its rationale is "" and counted (the SR stage
skips it; `thinking_cut` in the stats says how many, so a too small `sr.max_new_tokens` shows).
"""

from __future__ import annotations

from collections.abc import Sequence

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from actrain.prompts import (
    TEACHER_SYSTEM,
    ActorView,
    answer_region,
    clean_rationale,
    opens_thinking,
    pair_state,
    rationale_prompt,
    render_chat,
)
from actrain.records import Outcome, Rationale
from actrain.runtime.distributed import map_sharded
from actrain.runtime.generation import generate


def reflection_groups(outcomes: Sequence[Outcome]) -> list[list[Outcome]]:
    """The outcome records of each expert state (task, step), in order of first appearance: one
    reflection each, over all of the state's alternatives."""
    groups: dict[tuple[str, int], list[Outcome]] = {}
    for o in Outcome.coerce_all(outcomes):
        groups.setdefault(o.state_key, []).append(o)
    return list(groups.values())


def reflection_prompt(
    tokenizer: PreTrainedTokenizerBase, state_text: str, expert: str, expert_outcome: str,
    alternatives: Sequence[tuple[str, str]],
) -> str:
    """Ask the teacher why the expert's action beats all of `alternatives` ((action, what the
    game said) each). With one alternative it is `prompts.rationale_prompt`, word for word, so
    K = 1 runs keep the prompt they had."""
    if len(alternatives) == 1:
        (alternative, outcome), = alternatives
        return rationale_prompt(tokenizer, state_text, expert, alternative, expert_outcome,
                                outcome)
    others = "\n".join(f"- {action}: the game would have said: {outcome.strip()}"
                       for action, outcome in alternatives)
    user = (
        f"{state_text}\n\nThe expert chose: {expert}\nThe game then said: "
        f"{expert_outcome.strip()}\n\nOther options were:\n{others}\n\nIn one or two sentences, "
        f"explain why \"{expert}\" is the better action here."
    )
    messages = [{"role": "system", "content": TEACHER_SYSTEM}, {"role": "user", "content": user}]
    return render_chat(tokenizer, messages, "")


def rationale_prompts(
    tokenizer: PreTrainedTokenizerBase, groups: Sequence[Sequence[Outcome]],
    view: ActorView,
) -> list[str]:
    """The teacher's prompt for each state's group of outcome records: the state as the agent
    sees it, the expert's action and every alternative, and what the game said after each."""
    return [
        reflection_prompt(
            tokenizer, view.text(pair_state(g[0])),
            g[0].expert_action, g[0].expert_outcome,
            [(o.alternative, o.alternative_outcome) for o in g],
        )
        for g in groups
    ]


def teacher_rationale(text: str, prompt: str) -> str | None:
    """The rationale in a teacher's completion: its answer, after any thinking block, cleaned
    (`prompts.clean_rationale`); None when the teacher was cut off while thinking."""
    region = answer_region(text, think_open=opens_thinking(prompt))
    return None if region is None else clean_rationale(region)


def write_rationales(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    outcomes: Sequence[Outcome],
    view: ActorView,
    max_new_tokens: int,
    batch_size: int,
    dtype: str,
) -> tuple[list[Rationale], dict[str, int]]:
    """A rationale for every expert state of `outcomes` (greedy), and counts of usable and empty
    ones."""
    groups = reflection_groups(outcomes)
    prompts = rationale_prompts(tokenizer, groups, view)

    def write(mine: list[str]) -> list[list[str]]:
        return generate(model, tokenizer, mine, max_new_tokens=max_new_tokens, temperature=0.0,
                        batch_size=batch_size, autocast=dtype, desc="writing rationales")

    written = map_sharded(write, prompts)  # split over processes when launched as several
    records: list[Rationale] = []
    cut = 0
    for group, prompt, (text,) in zip(groups, prompts, written, strict=True):
        rationale = teacher_rationale(text, prompt)
        cut += rationale is None
        records.append(Rationale.of(group, rationale or "", text))
    usable = sum(bool(r.rationale) for r in records)
    stats = {"outcomes": len(outcomes), "rationales": usable, "empty": len(records) - usable}
    if cut:  # only a thinking teacher can be cut off mid-thought
        stats["thinking_cut"] = cut
    return records, stats
