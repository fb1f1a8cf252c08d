"""Expert trajectories: step an environment along its expert path and record every state.

One JSON line per task: `{"task", "task_description", "steps": [{"observation", "admissible",
"expert_action"}], "won", "score"}`. The file loads with `datasets.load_dataset("json", ...)`.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from actrain.envs.base import StepResult, TextEnv
from actrain.errors import ActrainError
from actrain.prompts import ActorView, State, history_window
from actrain.records import Step, Trajectory
from actrain.runtime.distributed import main_first, map_sharded
from actrain.runtime.io import read_trajectories, write_jsonl

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

log = logging.getLogger("actrain")


# Replays of an expert path that did not win, in an environment that is not deterministic.
EXPERT_RETRIES = 2


def collect_expert_trajectory(env: TextEnv, task: str) -> Trajectory:
    """Replay the expert's actions on `task`, recording observation and admissible actions.

    Where the environment is not `deterministic`, a path that does not win is played again (up
    to `EXPERT_RETRIES` times): a lost expert episode there is bad luck, not the expert's plan.
    """
    record = _expert_episode(env, task)
    for attempt in range(EXPERT_RETRIES if not env.deterministic else 0):
        if record.won:
            break
        log.warning("expert path of %s ended without a win (score %s); playing it again (%d/%d)",
                    task, record.score, attempt + 1, EXPERT_RETRIES)
        record = _expert_episode(env, task)
    return record


def _expert_episode(env: TextEnv, task: str) -> Trajectory:
    expert = env.expert_actions(task)
    result = env.reset(task)
    description = result.info.get("task_description", "")
    steps = []
    for action in expert:
        steps.append(Step(observation=result.observation, admissible=env.admissible_actions(),
                          expert_action=action, context=env.context()))
        result = env.step(action)
        if result.done:
            break
    return trajectory_record(task, description, steps, result)


def trajectory_record(
    task: str, description: str, steps: list[Step], last: StepResult,
    explore: float | None = None,
) -> Trajectory:
    """One line of a trajectories file; `last` is the result of the final step. `explore`: an
    exploring oracle's probability (`data/offpath.py`)."""
    return Trajectory(task=task, task_description=description, steps=steps,
                      won=bool(last.info.get("won", False)),
                      score=float(last.info.get("score", 0.0)), explore=explore)


def collect_many(
    make_env: Callable[[], TextEnv], tasks: Sequence[str], workers: int = 1, desc: str = ""
) -> list[Trajectory]:
    """Expert trajectories of `tasks`, in order, with `workers` environments stepping at once.

    Each running task holds one environment, which the next task reuses. Java-backed
    environments (ScienceWorld at ~0.2 s a step) spend their time in the JVM, outside the GIL,
    so threads give real parallelism. An environment that is not `thread_safe` is collected
    with one worker.
    """
    workers = max(1, min(workers, len(tasks)))
    first = make_env()  # also tells whether this environment may step on threads
    envs, idle, lock = [first], queue.SimpleQueue(), threading.Lock()
    idle.put(first)
    if workers > 1 and not first.thread_safe:
        log.warning("%s cannot step on threads; collecting with one environment",
                    type(first).__name__)
        workers = 1

    def run(task: str) -> Trajectory:
        # At most `workers` tasks run at once, so at most `workers` environments are made.
        try:
            env = idle.get_nowait()
        except queue.Empty:
            env = make_env()
            with lock:
                envs.append(env)
        try:
            return collect_expert_trajectory(env, task)
        finally:
            idle.put(env)

    try:
        with ThreadPoolExecutor(workers) as pool:
            return list(tqdm(pool.map(run, tasks), total=len(tasks), desc=desc, unit="task"))
    finally:
        for env in envs:
            env.close()


def first_tasks(env: TextEnv, split: str, num_tasks: int) -> list[str]:
    """The first `num_tasks` tasks of a split that have an expert, prepared in one batch; none
    is an error."""
    tasks = env.expert_tasks(split)[:num_tasks]
    if not tasks:
        raise ActrainError(f"split {split!r} has no tasks with an expert trajectory")
    main_first(lambda: env.prepare(tasks))  # generated games land in a shared cache
    return tasks


def collect_trajectories(
    env: TextEnv,
    split: str,
    num_tasks: int,
    path: Path,
    only_won: bool = True,
    make_env: Callable[[], TextEnv] | None = None,
    workers: int = 1,
) -> dict[str, int]:
    """Collect expert trajectories for the first `num_tasks` tasks of a split into `path`.

    Trajectories the expert does not win are left out when `only_won` (their "expert is better"
    label cannot be trusted); the returned counts say how many. With `make_env` and `workers` > 1
    the tasks are played by that many fresh environments at once (`env` only lists the tasks).
    """
    tasks = first_tasks(env, split, num_tasks)
    desc = f"expert trajectories ({split})"

    def collect(mine: list[str]) -> list[Trajectory]:
        if make_env is not None and workers > 1:
            return collect_many(make_env, mine, workers, desc)
        return [collect_expert_trajectory(env, task) for task in tqdm(mine, desc=desc,
                                                                       unit="task")]

    all_records = map_sharded(collect, tasks)  # split over processes when launched as several
    records = [r for r in all_records if r.won or not only_won]
    write_jsonl(path, records)
    lost = len(all_records) - len(records)
    return {"tasks": len(tasks), "kept": len(records), "expert_not_won": lost}


def load_trajectories(path: Path) -> list[Trajectory]:
    """The trajectories of a file; a line that is not one is an error naming the line."""
    return read_trajectories(path)


def iter_states(
    trajectory: Trajectory, history_len: int
) -> Iterator[tuple[int, State, str]]:
    """Yield (step index, State, expert action) for each step of a trajectory."""
    trajectory = Trajectory.coerce(trajectory)
    steps = trajectory.steps
    # The action actually taken: off-path records (`actrain.data.offpath`) may differ from the
    # label `expert_action` where their behaviour policy explored.
    past = [(s.observation, s.taken) for s in steps]
    for index, step in enumerate(steps):
        state = State(
            task=trajectory.task_description,
            history=history_window(past[:index], history_len),
            observation=step.observation,
            admissible=tuple(step.admissible or ()),
            context=step.context or "",
        )
        yield index, state, step.expert_action


def describe(path: Path) -> str:
    records = load_trajectories(path)
    n_steps = sum(len(r.steps) for r in records)
    return json.dumps({"trajectories": len(records), "steps": n_steps})


@dataclass(frozen=True)
class ActorExample:
    """One expert state as the agent is prompted with it, and the expert's action there."""

    prompt: str
    expert_action: str
    admissible_actions: list[str]
    task: str
    step: int


def actor_examples(
    tokenizer: PreTrainedTokenizerBase, trajectories: Sequence[Trajectory], view: ActorView
) -> list[ActorExample]:
    """Every expert state as an agent prompt with its expert action: the IL and RL data, shown
    through the very view (and history window) rollouts prompt the agent with."""
    return [
        ActorExample(
            prompt=view.prompt(tokenizer, state),
            expert_action=action,
            admissible_actions=list(state.admissible),
            task=trajectory.task,
            step=index,
        )
        for trajectory in Trajectory.coerce_all(trajectories)
        for index, state, action in iter_states(trajectory, view.history_len)
    ]
