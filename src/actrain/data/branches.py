"""Branching: play both actions of every training pair in the environment and record where each
leads (Early Experience's rollouts from expert states).

Each pair's state is rebuilt by resetting its task and replaying the trajectory's prefix (the
contract's `TextEnv.replay`, which every environment supports); then the expert's action is
taken, the state rebuilt again, and the alternative taken. One JSON line per (state,
alternative), with the pair's state fields and `expert_outcome` / `alternative_outcome`: the
observations the environment returned. Self-reflection (`sr`) and world modelling (`iwm`)
train on this file.
"""

from __future__ import annotations

from collections.abc import Sequence

from tqdm import tqdm

from actrain.data.verify import trajectory_prefixes
from actrain.envs.base import StepResult, TextEnv
from actrain.errors import ActrainError
from actrain.records import Outcome, Pair, Trajectory


def outcome_text(result: StepResult) -> str:
    """What the agent would read after the action: the observation, and the end of the game."""
    text = result.observation.strip()
    if result.done:
        text += " [The game is over: " + ("won" if result.info.get("won") else "not won") + "]"
    return text


def branch_outcomes(
    env: TextEnv, pairs: Sequence[Pair], trajectories: Sequence[Trajectory]
) -> list[Outcome]:
    """Both actions of each distinct (task, step, alternative) of `pairs`, played from its state.

    A pair whose task has no trajectory, or whose step lies past its end, is an error: the pairs
    and trajectories files of one run always match.
    """
    prefixes = trajectory_prefixes(trajectories)
    seen: set[tuple[str, int, str]] = set()
    records: list[Outcome] = []
    for pair in tqdm(pairs, desc="branching pairs", unit="pair", leave=False):
        if pair.key in seen:
            continue
        seen.add(pair.key)
        path = prefixes.get(pair.task)
        if path is None or pair.step >= len(path):
            raise ActrainError(f"pair of task {pair.task!r} step {pair.step} has no "
                               "matching trajectory state: pairs and trajectories disagree")
        prefix = path[: pair.step]
        outcomes = []
        for action in (pair.expert_action, pair.alternative):
            env.replay(pair.task, prefix)
            outcomes.append(outcome_text(env.step(action)))
        records.append(Outcome.of(pair, outcomes[0], outcomes[1]))
    return records
