"""Verified-worse alternatives: keep a pair only when the oracle says the alternative is worse.

An alternative drawn from the policy can be as good as the expert's action (another order of the
same chores, a detour the plan absorbs); training the critic to call it worse teaches noise. Where
the environment has an any-state oracle (`TextEnv.oracle_actions()`: TextWorld, ALFWorld), each
pair's state is rebuilt (reset + replay of the trajectory's prefix), and the oracle's remaining
plan is measured after the expert's action and after the alternative. The alternative is *worse*
when its plan is longer, or when it ends the game lost; otherwise the pair is dropped and counted
as `as_good_as_expert`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tqdm import tqdm

from actrain.envs.base import TextEnv
from actrain.errors import ActrainError

LOST = float("inf")


def plan_length_after(env: TextEnv, task: str, prefix: Sequence[str], action: str) -> float:
    """Steps the oracle still needs after taking `action` at the state reached by `prefix`."""
    env.replay(task, list(prefix))
    result = env.step(action)
    if result.done:
        return 0.0 if result.info.get("won") else LOST
    plan = env.oracle_actions()
    if plan is None:
        raise ActrainError(f"{type(env).__name__} has no oracle: alternatives.verify needs one "
                           "(textworld/cooking, alfworld/text)")
    return float(len(plan)) if plan or result.info.get("won") else LOST


def trajectory_prefixes(trajectories: Sequence[dict[str, Any]]) -> dict[str, list[str]]:
    """Per task, the actions actually taken, in order (the expert's, or an explorer's)."""
    return {
        t["task"]: [s.get("action", s["expert_action"]) for s in t["steps"]] for t in trajectories
    }


def keep_verified_worse(
    env: TextEnv,
    pairs: Sequence[dict[str, Any]],
    trajectories: Sequence[dict[str, Any]],
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The pairs whose alternative the oracle finds worse than the expert's action, and counts.

    Pairs written in both orders are checked once per state and alternative.
    """
    prefixes = trajectory_prefixes(trajectories)
    verdicts: dict[tuple[str, int, str], bool] = {}
    for pair in tqdm(pairs, desc="verifying alternatives", unit="pair", leave=False):
        key = (pair["task"], pair["step"], pair["alternative"])
        if key in verdicts:
            continue
        prefix = prefixes[pair["task"]][: pair["step"]]
        expert = plan_length_after(env, pair["task"], prefix, pair["expert_action"])
        alternative = plan_length_after(env, pair["task"], prefix, pair["alternative"])
        verdicts[key] = alternative > expert
    kept = [p for p in pairs if verdicts[(p["task"], p["step"], p["alternative"])]]
    worse = sum(verdicts.values())
    return kept, {"verified_worse": worse, "as_good_as_expert": len(verdicts) - worse}
