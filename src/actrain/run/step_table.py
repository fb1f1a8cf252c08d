"""The data steps of a run, as one table: what each writes, what it reads, its fingerprint,
when it runs, and the function that does it.

Steps run in the table's order. A step's fingerprint chains the fingerprint of the step it reads
(`after`) with the settings it reads (`key`), so changing a setting re-runs that step and every
step after it, and nothing else. Which steps a run needs follows the same chain: a training
stage reads one step's output (`Stage.data`), which needs the steps before it.

The work itself is in `run/data_steps.py`, named by `work` (the table is read by `run/keys.py`,
which the steps' context imports, so it names its functions rather than importing them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from actrain.config.schema import RunConfig
from actrain.run.fingerprint import fingerprint
from actrain.runtime.run_folder import RunFolder
from actrain.stages.inputs import data_of, is_act


class PromptKeys(Protocol):
    """What changes every prompt, and the generation engine (`RunKeys`)."""

    def template_key(self) -> list[Any]: ...
    def engine_key(self) -> list[Any]: ...


@dataclass(frozen=True)
class DataStep:
    id: str  # how stages and keys name it
    name: str  # in `stages.json` and the progress log
    after: str | None  # the step whose output (and fingerprint) it builds on
    outputs: Callable[[RunFolder, RunConfig], list[Path]]
    # (label, settings) of its fingerprint, chained after `after`'s
    key: Callable[[RunConfig, PromptKeys], tuple[str, list[Any]]]
    # whether the run needs it: (config, the run's training stages); None: when a stage reads it
    # or a step after it
    wanted: Callable[[RunConfig, set[str]], bool] | None
    work: str  # its function in run/data_steps.py
    phase: str  # the `--until` phase it belongs to: collect or pairs


def _collect_key(c: RunConfig, _: PromptKeys) -> tuple[str, list[Any]]:
    # The exploring policy draws from the seed; expert paths do not depend on it.
    source = [] if c.data.source == "expert" else [c.data.source, c.data.explore, c.seed]
    return "collect", [c.env.id, c.env.kwargs, c.data.train_tasks, c.data.eval_tasks, *source,
                       *_plugin(c)]


def _plugin(c: RunConfig) -> list[Any]:
    return [c.env.entry_point] if c.env.entry_point else []  # (absent: older runs' keys)


def _next_action_key(c: RunConfig, _: PromptKeys) -> tuple[str, list[Any]]:
    return "next-action states", [list(c.rollout.splits), c.rollout.next_action_states]


def _pairs_key(c: RunConfig, keys: PromptKeys) -> tuple[str, list[Any]]:
    if c.alternatives.pairs_from:  # another run's pairs: what they are, not where
        from actrain.data.reused_pairs import pairs_fingerprint

        return "pairs-from", [pairs_fingerprint(c.alternatives.pairs_from)]
    alternatives = asdict(c.alternatives)
    if alternatives["rule"] == "first_valid":  # the rule runs had before it was a setting
        alternatives.pop("rule")
    if alternatives["top_k"] == 0:  # likewise top-k sampling, off
        alternatives.pop("top_k")
    if alternatives["kind"] == "any":  # likewise alternatives of any kind
        alternatives.pop("kind")
    if not alternatives["usual_share"]:  # likewise no usual pairs beside them
        alternatives.pop("usual_share")
    # Sampled alternatives come in batches of eval.batch_size (its padding shapes the samples);
    # scoring the admissible actions does not batch by it.
    batching = [c.eval.batch_size] if c.alternatives.mode == "sample" else []
    return "pairs", [c.model, c.seed, c.data.history_len, c.data.show_admissible, alternatives,
                     c.dtype, *keys.template_key(), *keys.engine_key(), *batching]


def _hard_key(c: RunConfig, _: PromptKeys) -> tuple[str, list[Any]]:
    """The environment's own set, at a fixed seed."""
    return "hard", [c.env.id, c.env.kwargs, *_plugin(c), asdict(c.hard_set),
                    c.data.history_len]


def _rationales_key(c: RunConfig, keys: PromptKeys) -> tuple[str, list[Any]]:
    """Greedy, in batches of eval.batch_size."""
    return "rationales", [c.sr.teacher, c.sr.max_new_tokens, c.eval.batch_size, c.dtype,
                          c.data.history_len, c.data.show_admissible, *keys.template_key(),
                          *keys.engine_key()]


DATA_STEPS = (
    DataStep("collect", "collect", None,
             lambda f, c: [f.train_traj, f.eval_traj], _collect_key,
             lambda c, stages: True, "collect", "collect"),
    DataStep("next_action", "next-action states", "collect",
             lambda f, c: [f.next_action_traj(s) for s in c.rollout.splits], _next_action_key,
             lambda c, stages: c.rollout.enabled and c.rollout.next_action_states > 0,
             "next_action_states", "collect"),
    DataStep("pairs", "pairs", "collect",
             lambda f, c: [f.train_pairs, f.eval_pairs], _pairs_key, None, "pairs", "pairs"),
    DataStep("hard", "hard set", None,
             lambda f, c: [f.hard_traj, f.hard_pairs], _hard_key,
             lambda c, stages: any(map(is_act, stages)) and bool(c.hard_set.tasks),
             "hard_set", "pairs"),
    DataStep("outcomes", "outcomes", "pairs",
             lambda f, c: [f.train_outcomes], lambda c, keys: ("outcomes", []), None,
             "outcomes", "pairs"),
    DataStep("rationales", "rationales", "outcomes",
             lambda f, c: [f.train_rationales], _rationales_key, None, "rationales", "pairs"),
)
STEP = {step.id: step for step in DATA_STEPS}


def data_key(config: RunConfig, which: str, keys: PromptKeys) -> str:
    """The fingerprint of data step `which`, chained from the steps it builds on."""
    if which not in STEP:
        raise ValueError(f"no data step {which!r}")
    step = STEP[which]
    label, settings = step.key(config, keys)
    chained = [data_key(config, step.after, keys)] if step.after else []
    return fingerprint(label, *chained, *settings)


def chain(which: str) -> list[str]:
    """`which` and every step it builds on: rationales -> outcomes -> pairs -> collect."""
    out = []
    while which:
        out.append(which)
        which = STEP[which].after if which in STEP else None
    return out


def wanted(step: DataStep, config: RunConfig, stages: Iterable[str]) -> bool:
    """Whether a run of these training stages needs `step`."""
    stages = set(stages)
    if step.wanted is not None:
        return step.wanted(config, stages)
    return any(step.id in chain(data_of(stage)) for stage in stages)
