"""ScienceWorld adapter (`scienceworld/tasks`): 30 science tasks, Java-backed (~0.1-0.3 s a step).

Splits, from the package's own variation folds:
- `train`: train variations of the training tasks;
- `id_test`: test variations of the training tasks (the paper's in-distribution setting);
- `ood_test`: test variations of held-out tasks (`ood_tasks`, a configurable list; **ours**: by
  default the "unknown"/harder twin of a training task, so OOD tests transfer within a topic).

A task id is `<task-name>:<variation>`. Task lists interleave tasks (variation 0 of every task,
then variation 1, ...) so that "the first N tasks of a split" covers many tasks, not one.

Score is ScienceWorld's own 0-100; `won` is a score of 100; a negative score (the package's
"task failed", e.g. focusing on the wrong object, reported as -100) ends the episode as lost.
`info["score"]` counts from 0, as published ScienceWorld evaluations score an episode, so that
one wrong `focus on` costs the progress made rather than 100 points more; the package's own
value stays in `info["score_raw"]`. The expert is the package's gold action sequence, which
reaches 100 on every task.

Admissible actions: the package lists every action/object combination (500-8,500 strings, most
of them junk such as "connect kitchen to banana"). We keep a readable subset (see
`filter_admissible`). The gold path names objects in a disambiguated form ("thermometer in
inventory") that is often absent from that list, so an expert action need not be "admissible".

One JVM per adapter instance (~0.8 s to start). If it dies, the next call starts a new one,
reloads the task and replays the episode's actions, so a long collection or evaluation loses
nothing.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Callable
from typing import Any

from actrain.envs.base import (
    SPLITS,
    StepResult,
    TextEnv,
    needs_java,
    needs_module,
    register,
    require_java,
)
from actrain.errors import ActrainError

log = logging.getLogger("actrain")

# Held-out tasks for `ood_test` (ours): each is a harder or "unknown" twin of a training task.
DEFAULT_OOD_TASKS = (
    "freeze",
    "measure-melting-point-unknown-substance",
    "test-conductivity-of-unknown-substances",
    "mendelian-genetics-unknown-plant",
    "lifespan-longest-lived-then-shortest-lived",
    "chemistry-mix-paint-tertiary-color",
    "inclined-plane-friction-unnamed-surfaces",
    "find-non-living-thing",
)
ELECTRICAL = ("power-component", "conductivity")
# Objects that no task acts on; actions naming them are noise in the combination list.
_JUNK_OBJECTS = re.compile(r"\b(agent|air)\b")
_TASK_PREFIX = re.compile(r"^\s*Task Description:\s*")
_BARE_DOOR = re.compile(r"^(open|close) door$")
_DOOR = re.compile(r"\bA door to the ([^()\n]+?) \(that is (?:open|closed)\)")
# Replies by which the game refuses a command it cannot parse, resolve or route.
_REJECTIONS = ("No known action matches that input", "Unknown action", "Ambiguous request",
               "It's not clear how to get there from here")
_ALWAYS = ("look around", "inventory", "wait", "wait1", "task")


def filter_admissible(actions: list[str], task_name: str, look: str = "") -> list[str]:
    """A readable admissible list: drop combinations no task needs, name the doors.

    Dropped: `connect`/`disconnect` outside the electrical tasks, actions on the agent itself or
    on air, `reset task` (it restarts the episode) and duplicates. The package lists doors as a
    bare, ambiguous "open door" (the game then asks which one), so those are replaced by the
    forms the game accepts, one per door in the room's description `look`: "open door to X",
    "close door to X", "go to X". Kept: everything else, plus the free actions the combination
    list leaves out.
    """
    electrical = any(word in task_name for word in ELECTRICAL)
    kept = set(_ALWAYS)
    for action in actions:
        verb = action.split(" ", 1)[0]
        if verb in ("connect", "disconnect") and not electrical:
            continue
        if action == "reset task" or _JUNK_OBJECTS.search(action) or _BARE_DOOR.match(action):
            continue
        kept.add(action)
    for room in _DOOR.findall(look):
        kept.update((f"open door to {room}", f"close door to {room}", f"go to {room}"))
    return sorted(kept)


def _import_scienceworld() -> Any:
    try:
        from scienceworld import ScienceWorldEnv
    except ImportError:
        raise ActrainError(
            "ScienceWorld is not installed: pip install 'actrain[scienceworld]'"
        ) from None
    return ScienceWorldEnv


def _is_dead_jvm(exc: Exception) -> bool:
    """A py4j error that means the JVM or its socket is gone (not a game-level error)."""
    from py4j.protocol import Py4JNetworkError

    return isinstance(exc, (Py4JNetworkError, ConnectionError, EOFError, BrokenPipeError))


class ScienceWorldTextEnv(TextEnv):
    """ScienceWorld behind the text-env contract."""

    deterministic = False  # the same gold path may win or not (pollination, heat transfer)

    def __init__(
        self,
        ood_tasks: list[str] | tuple[str, ...] = DEFAULT_OOD_TASKS,
        train_tasks: list[str] | None = None,
        simplifications: str = "",
        step_limit: int = 1000,
        filter_actions: bool = True,
    ) -> None:
        require_java()
        self._cls = _import_scienceworld()
        self.simplifications = simplifications
        self.step_limit = step_limit
        self.filter_actions = filter_actions
        self._env: Any = None
        self._start_jvm()
        names = list(self._env.get_task_names())
        unknown = sorted((set(ood_tasks) | set(train_tasks or ())) - set(names))
        if unknown:
            self.close()
            raise ActrainError(f"unknown ScienceWorld task(s) {unknown}; known: {names}")
        self.ood_tasks = list(ood_tasks)
        self.train_tasks = list(train_tasks) if train_tasks else [
            n for n in names if n not in self.ood_tasks
        ]
        self._task: tuple[str, int] | None = None
        self._gold_loaded = False
        self._actions: list[str] = []
        self._awaiting_choice = False  # the game asked which of several actions was meant
        self._infos: dict[str, Any] = {}
        self._variations: dict[tuple[str, str], list[int]] = {}

    # -- JVM lifecycle ------------------------------------------------------------------------

    def _start_jvm(self) -> None:
        # py4j logs a traceback for every refused connection of a dead JVM; we log one line.
        logging.getLogger("py4j").setLevel(logging.CRITICAL)
        logging.getLogger("scienceworld").setLevel(logging.WARNING)  # a line per task load
        self._env = self._cls("", envStepLimit=self.step_limit)

    def _restart(self) -> None:
        """Start a fresh JVM and bring it back to the current episode's state."""
        log.warning("ScienceWorld JVM stopped answering; restarting it and replaying the episode")
        with contextlib.suppress(Exception):  # the old JVM is already gone
            self._env.close()
        self._start_jvm()
        if self._task is not None:
            actions, self._actions = self._actions, []
            self._load(*self._task, gold=self._gold_loaded)
            self._infos = self._env.reset()[1]
            for action in actions:
                self._infos = self._env.step(action)[3]
                self._actions.append(action)

    def _call(self, fn: Callable[[], Any]) -> Any:
        """Run one package call, restarting a dead JVM (and replaying the episode) once."""
        try:
            return fn()
        except Exception as exc:
            if not _is_dead_jvm(exc):
                raise
        self._restart()
        return fn()

    # -- the contract -------------------------------------------------------------------------

    def _load(self, name: str, variation: int, gold: bool) -> None:
        try:
            self._env.load(name, variation, self.simplifications, generateGoldPath=gold)
        except ValueError as exc:
            raise ActrainError(f"ScienceWorld rejected {name}:{variation}: {exc}") from None
        self._gold_loaded = gold

    def _fold(self, name: str, split: str) -> list[int]:
        key = (name, split)
        if key not in self._variations:
            self._load(name, 0, gold=False)
            getter = self._env.get_variations_train if split == "train" else (
                self._env.get_variations_test)
            self._variations[key] = sorted(getter())
            self._task = None
        return self._variations[key]

    def tasks(self, split: str) -> list[str]:
        if split not in SPLITS:
            raise ActrainError(f"unknown split {split!r}; use one of {SPLITS}")
        names = self.ood_tasks if split == "ood_test" else self.train_tasks
        folds = {name: self._fold(name, split) for name in names}
        longest = max((len(v) for v in folds.values()), default=0)
        return [
            f"{name}:{folds[name][i]}"
            for i in range(longest)
            for name in names
            if i < len(folds[name])
        ]

    @staticmethod
    def _parse(task: str) -> tuple[str, int]:
        name, _, variation = task.rpartition(":")
        if not name or not variation.isdigit():
            raise ActrainError(f"bad ScienceWorld task id {task!r}; expected '<task>:<variation>'")
        return name, int(variation)

    def _result(self, observation: str, reward: float, done: bool) -> StepResult:
        raw = float(self._infos.get("score", 0.0))
        info = {
            "won": raw >= 100,
            "score": max(0.0, raw),  # a failed task reports -100: the episode scores 0
            "score_raw": raw,
            "lost": raw < 0,
            "task_description": _TASK_PREFIX.sub("", str(self._infos.get("taskDesc", ""))).strip(),
        }
        return StepResult(observation=observation.strip(), reward=reward, done=done, info=info)

    def reset(self, task: str, gold_path: bool = False) -> StepResult:
        name, variation = self._parse(task)
        self._task, self._actions, self._gold_loaded = (name, variation), [], gold_path
        self._awaiting_choice = False
        self._call(lambda: self._load(name, variation, gold_path))
        observation, self._infos = self._call(lambda: self._env.reset())
        return self._result(observation, 0.0, False)

    def step(self, action: str) -> StepResult:
        if self._awaiting_choice and not action.strip().isdigit():
            # After "Ambiguous request" the game reads the next input as the number of the
            # intended action and would swallow anything else: cancel with a blank answer
            # (recorded, so that a JVM restart replays it). A number answers the question, as
            # the gold paths of some tasks do.
            self._infos = self._call(lambda: self._env.step(""))[3]
            self._actions.append("")
        observation, reward, done, self._infos = self._call(lambda: self._env.step(action))
        self._actions.append(action)
        self._awaiting_choice = observation.startswith("Ambiguous request")
        result = self._result(observation, float(reward), bool(done))
        # The combination list misses many forms the game accepts (about a fifth of the gold
        # path's actions), so the game's own refusal is the better judge of an invalid action.
        result.info["rejected"] = result.observation.startswith(_REJECTIONS)
        return result

    def admissible_actions(self) -> list[str]:
        actions = list(self._infos.get("valid", []))
        if not self.filter_actions:
            return sorted(set(actions))
        name = self._task[0] if self._task else ""
        return filter_admissible(actions, name, str(self._infos.get("look", "")))

    def expert_actions(self, task: str) -> list[str]:
        self.reset(task, gold_path=True)
        gold = list(self._call(lambda: self._env.get_gold_action_sequence()))
        if gold and gold[0].startswith("ERROR"):
            raise ActrainError(f"ScienceWorld gave no gold path for {task}: {gold[0]}")
        return gold

    def close(self) -> None:
        env, self._env = getattr(self, "_env", None), None
        if env is not None:
            with contextlib.suppress(Exception):  # closing a JVM that already died
                env.close()


@register("scienceworld/tasks", needs=lambda: [
    *needs_module("scienceworld", "pip install 'actrain[scienceworld]'"), *needs_java()])
def _build(**kwargs: Any) -> ScienceWorldTextEnv:
    return ScienceWorldTextEnv(**kwargs)
