"""Environment adapter overhead: a step through actrain's adapter vs the raw package's step.

For each installed environment, the expert path of one task is stepped through twice per round,
in alternating order: once with the package's own `step` (the object the adapter wraps), and once
through the adapter as an agent loop uses it, `step` + `admissible_actions()` (the package
computes its admissible list inside its own step, the adapter then sorts and filters it). Only
the steps are timed; resets are the same in both modes. Prints ms per step of each, their ratio
and the overhead in percent (target: <= 5%).

Usage: python benchmarks/env_overhead.py [--rounds 5] [--envs twx/twc scienceworld/tasks ...]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
TESTS = Path(__file__).resolve().parent.parent / "tests"

# (env id, constructor kwargs, task): one short expert path per environment.
CASES = {
    "twx/twc": ({}, "train:1"),
    "scienceworld/tasks": ({}, "find-plant:0"),
    "textworld/cooking": ({}, None),
    "alfworld/text": ({"data_dir": str(TESTS / "data" / "alfworld")}, None),
}


def time_steps(step, reset, actions: list[str]) -> float:  # noqa: ANN001 - callables
    reset()
    start = time.perf_counter()
    for action in actions:
        step(action)
    return time.perf_counter() - start


def measure(env_id: str, rounds: int) -> dict[str, float] | str:
    from actrain.envs import make
    from actrain.errors import ActrainError

    kwargs, task = CASES[env_id]
    try:
        env = make(env_id, **kwargs)
    except ActrainError as exc:
        return f"skipped ({exc})"
    try:
        task = task or env.tasks("train")[0]
        actions = env.expert_actions(task)

        def adapter_step(action: str) -> None:
            env.step(action)
            env.admissible_actions()

        def reset() -> None:
            env.reset(task)

        raw, wrapped = [], []
        time_steps(adapter_step, reset, actions)  # warm-up (JIT, caches)
        for i in range(rounds):
            # The package object is looked up after each reset: an adapter may rebuild it.
            modes = [("raw", lambda a: env._env.step(a)), ("adapter", adapter_step)]
            for name, step in modes if i % 2 == 0 else modes[::-1]:
                (raw if name == "raw" else wrapped).append(time_steps(step, reset, actions))
    finally:
        env.close()
    per_step = len(actions)
    raw_ms = 1000 * statistics.median(raw) / per_step
    adapter_ms = 1000 * statistics.median(wrapped) / per_step
    return {"steps": per_step, "raw_ms": raw_ms, "adapter_ms": adapter_ms,
            "ratio": adapter_ms / raw_ms}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--envs", nargs="*", default=list(CASES))
    args = parser.parse_args()
    print(f"{'environment':<20} {'steps':>5} {'raw ms/step':>12} {'adapter ms/step':>16} "
          f"{'ratio':>6} {'overhead':>9}")
    for env_id in args.envs:
        result = measure(env_id, args.rounds)
        if isinstance(result, str):
            print(f"{env_id:<20} {result}")
            continue
        print(f"{env_id:<20} {result['steps']:>5} {result['raw_ms']:>12.3f} "
              f"{result['adapter_ms']:>16.3f} {result['ratio']:>6.3f} "
              f"{100 * (result['ratio'] - 1):>8.1f}%")


if __name__ == "__main__":
    main()
