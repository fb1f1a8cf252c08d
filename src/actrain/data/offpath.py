"""Off-path critic data: states the expert never visits, labelled by an oracle.

Expert trajectories only hold states on the expert's own path, so a critic trained on them never
sees the states an agent reaches after a mistake. An environment with an oracle
(`TextEnv.oracle_actions()`, a plan from the current state) can label *any* state. Here a
behaviour policy follows the oracle but, with probability `explore`, takes a random admissible
non-oracle action instead; every visited state is recorded with the oracle's first action as its
`expert_action`.

The records use the expert-trajectory schema (`actrain.data.trajectories`), so
`expert_states` + `build_pairs` turn them into critic pairs unchanged. Each step also carries
`off_path` (the state was reached after at least one non-oracle action) and `action` (the action
actually taken there, which differs from `expert_action` where the policy explored).
"""

from __future__ import annotations

import random
from pathlib import Path

from tqdm import tqdm

from actrain.data.trajectories import first_tasks, trajectory_record
from actrain.envs.base import TextEnv
from actrain.errors import ActrainError
from actrain.prompts import normalise_action
from actrain.records import Step, Trajectory
from actrain.runtime.io import write_jsonl


def _oracle_plan(env: TextEnv) -> list[str]:
    plan = env.oracle_actions()
    if plan is None:
        raise ActrainError(
            f"{type(env).__name__} has no oracle (oracle_actions() is None); off-path data "
            "needs an environment that can plan from any state, e.g. textworld/cooking"
        )
    return plan


def collect_oracle_trajectory(
    env: TextEnv,
    task: str,
    explore: float,
    rng: random.Random,
    max_steps: int = 100,
) -> Trajectory:
    """Run the exploring oracle policy on `task` and record every state it visits.

    A state where the oracle has no plan (the game is won, lost or over) ends the trajectory,
    since there is no better action to label it with.
    """
    if not 0.0 <= explore <= 1.0:
        raise ActrainError(f"explore must be a probability in [0, 1], got {explore}")
    result = env.reset(task)
    description = result.info.get("task_description", "")
    steps: list[Step] = []
    off_path = False
    for _ in range(max_steps):
        plan = _oracle_plan(env)
        if not plan:
            break
        best = plan[0]
        admissible = env.admissible_actions()
        best_key = normalise_action(best)
        others = [a for a in admissible if normalise_action(a) != best_key]
        # Draw every step, so the coin sequence does not depend on how many options there are.
        explores = rng.random() < explore
        action = rng.choice(others) if explores and others else best
        steps.append(Step.explored(observation=result.observation, context=env.context(),
                                   admissible=admissible, expert_action=best,
                                   off_path=off_path, action=action))
        result = env.step(action)
        off_path = off_path or action != best
        if result.done:
            break
    return trajectory_record(task, description, steps, result, explore=explore)


def collect_oracle_trajectories(
    env: TextEnv,
    split: str,
    num_tasks: int,
    path: Path,
    explore: float = 0.3,
    seed: int = 0,
    max_steps: int = 100,
) -> dict[str, int]:
    """Collect exploring-oracle trajectories for the first `num_tasks` tasks of a split.

    Every trajectory is kept, won or not: its labels come from the oracle at each state, not
    from how the episode ended. Each task gets its own seeded generator, so a task's trajectory
    does not depend on which tasks came before it.
    """
    tasks = first_tasks(env, split, num_tasks)
    records = []
    for task in tqdm(tasks, desc=f"oracle trajectories ({split})", unit="task"):
        rng = random.Random(f"{seed}:{task}")
        records.append(collect_oracle_trajectory(env, task, explore, rng, max_steps))
    write_jsonl(path, records)
    steps = [step for record in records for step in record.steps]
    return {
        "tasks": len(tasks),
        "won": sum(bool(record.won) for record in records),
        "states": len(steps),
        "off_path_states": sum(bool(step.off_path) for step in steps),
    }
