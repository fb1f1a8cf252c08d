"""Verified-worse alternatives: keep a pair only when the environment shows the alternative is
worse than the expert's action.

An alternative drawn from the policy can be as good as the expert's action (another order of the
same chores, a detour the plan absorbs); training the critic to call it worse teaches noise. Each
pair's state is rebuilt (reset + replay of the trajectory's prefix), then one of two checks runs:

- **oracle** (`TextEnv.oracle_actions()`: TextWorld, ALFWorld): the oracle's remaining plan is
  measured after the expert's action and after the alternative. The alternative is worse when
  its plan is longer, or when it ends the game lost.
- **outcome** (any environment, e.g. TextWorldExpress): the expert's own remaining actions are
  played after each of the two actions (after the alternative, the expert's action first, and
  any action the game no longer accepts skipped). The alternative is worse when it loses the game
  or when that play then ends lower than the expert's: lost, not won where the expert won, or
  with a lower score. A wrong placement the plan cannot undo is worse; a wasted step the plan
  absorbs is not, and is dropped rather than trusted.

A dropped pair is counted as `as_good_as_expert`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tqdm import tqdm

from actrain.envs.base import StepResult, TextEnv
from actrain.errors import ActrainError
from actrain.prompts import normalise_action
from actrain.records import Pair, Trajectory

LOST = float("inf")


def plan_length_after(env: TextEnv, task: str, prefix: Sequence[str], action: str) -> float:
    """Steps the oracle still needs after taking `action` at the state reached by `prefix`."""
    env.replay(task, list(prefix))
    result = env.step(action)
    if result.done:
        return 0.0 if result.info.get("won") else LOST
    plan = env.oracle_actions()
    if plan is None:
        raise ActrainError(f"{type(env).__name__} has no oracle: the plan-length check needs one "
                           "(textworld/cooking, alfworld/text)")
    return float(len(plan)) if plan or result.info.get("won") else LOST


def has_oracle(env: TextEnv, task: str) -> bool:
    """Whether the environment gives an oracle plan (asked at the task's start)."""
    env.reset(task)
    return env.oracle_actions() is not None


def play_on(env: TextEnv, result: StepResult, actions: Sequence[str]) -> StepResult:
    """Play `actions` from the current state until the game ends, skipping those the game does
    not accept there (the plan's repair after a deviation)."""
    for action in actions:
        if result.done:
            break
        accepted = {normalise_action(a) for a in env.admissible_actions()}
        if normalise_action(action) in accepted:
            result = env.step(action)
    return result


def outcome(result: StepResult) -> tuple[int, float]:
    """(won, score) of a game's end, ordered: a win beats no win, then the higher score."""
    return int(bool(result.info.get("won"))), float(result.info.get("score", 0.0))


def worse_by_outcome(
    env: TextEnv, task: str, prefix: Sequence[str], expert: str, alternative: str,
    rest: Sequence[str],
) -> bool:
    """The outcome check (see the module docstring); `rest` are the expert's actions after
    `expert`."""
    env.replay(task, list(prefix))
    expert_end = play_on(env, env.step(expert), rest)
    env.replay(task, list(prefix))
    after = env.step(alternative)
    if after.done and not after.info.get("won"):
        return not (expert_end.done and not expert_end.info.get("won"))
    return outcome(play_on(env, after, [expert, *rest])) < outcome(expert_end)


def alternative_is_worse(
    env: TextEnv, task: str, prefix: Sequence[str], expert: str, alternative: str,
    rest: Sequence[str], oracle: bool,
) -> bool:
    """Whether `alternative` is worse than `expert` at the state `prefix` reaches: by the
    oracle's plan length where `oracle`, else by the outcome of the expert's remaining plan."""
    if oracle:
        return (plan_length_after(env, task, prefix, alternative)
                > plan_length_after(env, task, prefix, expert))
    return worse_by_outcome(env, task, prefix, expert, alternative, rest)


def trajectory_prefixes(trajectories: Sequence[Trajectory]) -> dict[str, list[str]]:
    """Per task, the actions actually taken, in order (the expert's, or an explorer's)."""
    return {t.task: t.taken_actions() for t in Trajectory.coerce_all(trajectories)}


def keep_verified_worse(
    env: TextEnv,
    pairs: Sequence[Pair],
    trajectories: Sequence[Trajectory],
) -> tuple[list[Pair], dict[str, Any]]:
    """The pairs whose alternative the environment shows worse than the expert's action, and
    counts (with `check`: oracle or outcome). Pairs written in both orders are checked once per
    state and alternative."""
    prefixes = trajectory_prefixes(trajectories)
    oracle = bool(pairs) and has_oracle(env, pairs[0].task)
    verdicts: dict[tuple[str, int, str], bool] = {}
    for pair in tqdm(pairs, desc="verifying alternatives", unit="pair", leave=False):
        if pair.key in verdicts:
            continue
        taken = prefixes[pair.task]
        verdicts[pair.key] = alternative_is_worse(
            env, pair.task, taken[: pair.step], pair.expert_action, pair.alternative,
            taken[pair.step + 1:], oracle)
    kept = [p for p in pairs if verdicts[p.key]]
    worse = sum(verdicts.values())
    return kept, {"verified_worse": worse, "as_good_as_expert": len(verdicts) - worse,
                  "check": "oracle" if oracle else "outcome"}
