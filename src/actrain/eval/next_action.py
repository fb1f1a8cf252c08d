"""Next-action accuracy: the agent's action at every held-out expert state, against the
expert's, the primary agent metric of a comparison (paired over the same states in
`eval/intervals.py`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from actrain.data.trajectories import actor_examples
from actrain.eval.agent_settings import AgentSettings
from actrain.prompts import normalise_action, opens_thinking, parse_action, truncated_thinking
from actrain.records import NextActionRecord, Trajectory
from actrain.runtime.distributed import map_sharded
from actrain.runtime.generation import generate


def next_action_records(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    trajectories: Mapping[str, Sequence[Trajectory]],
    settings: AgentSettings,
) -> list[NextActionRecord]:
    """The agent's action at every held-out expert state of `trajectories` ({split: expert
    trajectories}): one record a state with its split, task, step, the expert's action, the
    agent's (`action`, None when malformed), whether they match after normalising case and
    whitespace (`correct`), and whether the answer was cut off while thinking.

    The agent sees each state as in its rollouts and decodes as there (greedy, or the rollout's
    sampling, seeded by the run's seed). All splits' prompts go through one `generate` call, which
    sorts them by length so that a batch pads little, and shares their common start."""
    view = settings.view
    examples = [(split, example)
                for split, records in trajectories.items()
                for example in actor_examples(tokenizer, list(records), view)]
    if not examples:
        return []
    r = settings.rollout

    def decode(prompts: list[str]) -> list[list[str]]:
        return generate(
            model, tokenizer, prompts, max_new_tokens=r.max_new_tokens,
            temperature=r.temperature, top_p=r.top_p, top_k=r.top_k, batch_size=r.batch_size,
            stop=["</action>"], autocast=settings.dtype,
            seed=settings.seed if r.temperature > 0 else None, desc="next-action accuracy",
            common_prefix=settings.prefix_cache,
        )

    # split over processes when launched as several
    prompts = [example.prompt for _, example in examples]
    completions = map_sharded(decode, prompts)
    out = []
    for (split, example), (text,) in zip(examples, completions, strict=True):
        opened = opens_thinking(example.prompt)
        action = parse_action(text, prefilled=not view.reasoning, think_open=opened)
        expert = example.expert_action
        out.append(NextActionRecord(
            split=split, task=example.task, step=example.step, expert_action=expert,
            action=action,
            correct=action is not None and normalise_action(action) == normalise_action(expert),
            malformed=action is None, truncated=truncated_thinking(text, opened),
            completion=text,
        ))
    return out


def next_action_summary(records: Sequence[NextActionRecord]) -> dict[str, Any]:
    """States, accuracy, and the shares of malformed answers and of answers cut off while
    thinking (both counted wrong) over per-state records (`next_action_records`)."""
    n = len(records)
    if not n:
        return {"states": 0, "accuracy": None, "malformed_rate": None, "truncated_rate": None}
    return {"states": n, "accuracy": sum(r.correct for r in records) / n,
            "malformed_rate": sum(bool(r.malformed) for r in records) / n,
            "truncated_rate": sum(bool(r.truncated) for r in records) / n}


def next_action_by_split(records: Sequence[NextActionRecord],
                         splits: Sequence[str]) -> dict[str, Any]:
    """`summary["next_action"]`: {split: its summary} for every split, beside the same figures
    over all splits together at the top level (what readers of a single figure take)."""
    return {**next_action_summary(records),
            **{split: next_action_summary([r for r in records if r.split == split])
               for split in splits}}


def next_action_accuracy(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    trajectories: Sequence[Trajectory],
    settings: AgentSettings,
) -> dict[str, Any]:
    """Share of held-out expert states where the agent's action is the expert's (after
    normalising case and whitespace): ScienceWorld's metric in the paper's v1, for any
    environment. Malformed output counts wrong, and `truncated_rate` counts the answers cut off
    while thinking (`next_action_records`)."""
    return next_action_summary(next_action_records(model, tokenizer, {"heldout": trajectories},
                                                   settings))
