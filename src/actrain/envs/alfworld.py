"""ALFWorld adapter (`alfworld/text`): ALFRED household tasks played as PDDL-backed text games.

Engine. Games are ALFWorld's `game.tw-pddl` files, played by TextWorld's PDDL engine
(`textworld.envs.PddlEnv`, which needs `textworld[pddl]`, i.e. fast-downward) behind ALFWorld's
own wrappers, in the order ALFWorld's text environment uses them: `AlfredDemangler` turns
mangled PDDL ids such as `apple_bar__plus_01_dot_10...` into "apple 1" (no shuffling, as in
ALFWorld's evaluation), `AlfredInfos` adds the game file. We drive one game at a time directly
instead of through `textworld.gym`, whose batched, asynchronous wrapper actrain does not need.

Data. `<data_dir>/json_2.1.1/{train,valid_seen,valid_unseen}/<task>/<trial>/game.tw-pddl`, as
`alfworld-download` lays it out; `data_dir` is the constructor argument, else `$ALFWORLD_DATA`,
else `~/.cache/alfworld` (alfworld's own default). Splits: `train` -> train, `id_test` ->
valid_seen, `ood_test` -> valid_unseen (unseen rooms). A game is listed exactly when ALFWorld's
own loader would list it: its trial folder holds `traj_data.json` and `game.tw-pddl`, the path
names no movable-receptacle or sliced task, the task type (read from the task folder's name
rather than from the large traj_data.json) is one of the six, and the game file says
`"solvable": true`. A task id is the game path relative to `data_dir`, so it names its game on
its own and sorts stably.

Protocol. `info["won"]` is the engine's goal check, not `done`: `done` also covers losing and
is what an episode ends on, while success is only ever `won`. `info["score"]` is the engine's
score (1 once won, else 0). Observations are the engine's text unchanged; the reset shows
ALFWorld's intro (room overview and "Your task is to: ..."), whose last line is also
`info["task_description"]`. An action the engine does not recognise is a step answered
"Nothing happens.", as in ALFWorld. The paper's protocol caps an episode at 50 steps; that cap
is actrain's rollout setting, not this adapter's, so the adapter never ends an episode early.

Experts. `expert_actions` gives the handcoded expert's path (stored walkthrough by default, see
`AlfWorldTextEnv`); `oracle_actions` gives fast-downward's plan from the current state, so
off-path states can be labelled too.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

from actrain.envs.base import SPLITS, StepResult, TextEnv, needs_module, register
from actrain.errors import ActrainError

_FOLDERS = {"train": "train", "id_test": "valid_seen", "ood_test": "valid_unseen"}
_DATA_VERSION = "json_2.1.1"
_GAME_FILE = "game.tw-pddl"
# The six task types ALFWorld plays (its TASK_TYPES); ALFRED's seventh, with a movable
# receptacle, is not supported by ALFWorld and is filtered by the "movable" path rule as well.
TASK_TYPES = (
    "pick_and_place_simple",
    "look_at_obj_in_light",
    "pick_clean_then_place_in_recep",
    "pick_heat_then_place_in_recep",
    "pick_cool_then_place_in_recep",
    "pick_two_obj_and_place",
)
EXPERTS = ("walkthrough", "handcoded", "planner")
# ALFWorld's handcoded expert gives up after this many steps (its `expert_timeout_steps`).
HANDCODED_MAX_STEPS = 150
_MISSING_DATA = (
    "ALFWorld games not found at {path}: run `alfworld-download` (needs internet; writes to "
    "$ALFWORLD_DATA, default ~/.cache/alfworld), then set ALFWORLD_DATA to that folder"
)


def _import_alfworld() -> dict[str, Any]:
    """Import the engine pieces lazily, so that actrain imports without the `alfworld` extra."""
    try:
        import textworld
        from alfworld.agents.environment.alfred_tw_env import (
            AlfredDemangler,
            AlfredExpert,
            AlfredExpertType,
            AlfredInfos,
        )
        from textworld.envs import PddlEnv
    except ImportError:
        raise ActrainError("ALFWorld is not installed: pip install 'actrain[alfworld]'") from None
    try:
        import fast_downward  # noqa: F401 - PddlEnv needs it, and says so only when used
    except ImportError:
        raise ActrainError(
            "ALFWorld needs TextWorld's PDDL engine (fast-downward): "
            "pip install 'actrain[alfworld]'"
        ) from None
    return {
        "textworld": textworld,
        "PddlEnv": PddlEnv,
        "AlfredDemangler": AlfredDemangler,
        "AlfredInfos": AlfredInfos,
        "AlfredExpert": AlfredExpert,
        "AlfredExpertType": AlfredExpertType,
    }


def default_data_dir() -> Path:
    """`$ALFWORLD_DATA`, else alfworld's default download folder."""
    return Path(os.environ.get("ALFWORLD_DATA") or Path.home() / ".cache" / "alfworld")


def _task_type(trial_dir: Path) -> str:
    # ALFRED names a task folder `<task_type>-<object>-<mrecep>-<recep>-<scene>`; reading the
    # type from the name avoids opening thousands of large traj_data.json files to list a split.
    return trial_dir.parent.name.split("-", 1)[0]


def _is_playable(game: Path) -> bool:
    """ALFWorld's own listing rule (see the module docstring)."""
    trial = game.parent
    if "movable" in str(trial) or "Sliced" in str(trial):
        return False
    if _task_type(trial) not in TASK_TYPES or not (trial / "traj_data.json").is_file():
        return False
    try:
        with open(game) as f:
            return json.load(f).get("solvable") is True
    except (OSError, ValueError):
        return False


def _task_description(intro: str) -> str:
    for line in reversed(intro.strip().splitlines()):
        if line.strip().startswith("Your task is to"):
            return line.strip()
    return ""


class AlfWorldTextEnv(TextEnv):
    """ALFWorld's text games (TextWorld PDDL engine) behind the text-env contract.

    `expert` picks the expert behind `expert_actions`:
    - "walkthrough" (default): the walkthrough stored in the game file. `alfworld-generate`
      records it by running ALFWorld's handcoded expert (`expert_type: handcoded`, the expert
      of ALFWorld's DAgger training) through this engine, and marks the game solvable only if
      that run won; so it is the handcoded expert's path, deterministic and free to read. A game
      without one falls back to running the handcoded expert.
    - "handcoded": run the handcoded expert live (the `extra.expert_plan` info of ALFWorld's
      `AlfredExpert` wrapper), step by step, seeded so that it is reproducible.
    - "planner": fast-downward's plan from the initial state (`AlfredExpert`'s "planner" type);
      shorter, but it knows where everything is and so never explores.
    """

    # TextWorld's PDDL engine keeps its parsers (and fast-downward its options) process-wide.
    thread_safe = False

    def __init__(self, data_dir: str | Path | None = None, expert: str = "walkthrough") -> None:
        if expert not in EXPERTS:
            raise ActrainError(f"unknown ALFWorld expert {expert!r}; use one of {EXPERTS}")
        self._lib = _import_alfworld()
        self.data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
        self.data_dir = self.data_dir.expanduser().resolve()
        if not (self.data_dir / _DATA_VERSION).is_dir():
            raise ActrainError(_MISSING_DATA.format(path=self.data_dir / _DATA_VERSION))
        self.expert = expert
        self._env = self._build(
            self._lib["textworld"].EnvInfos(won=True, admissible_commands=True, extras=["gamefile"])
        )
        self._expert_envs: dict[str, Any] = {}
        self._loaded: Path | None = None
        self._state: Any = None
        self._description = ""
        self._tasks: dict[str, list[str]] = {}

    def _build(self, infos: Any, expert_type: str | None = None) -> Any:
        """PddlEnv -> AlfredDemangler -> AlfredInfos (-> AlfredExpert), as ALFWorld stacks them."""
        lib = self._lib
        env = lib["AlfredInfos"](lib["AlfredDemangler"](lib["PddlEnv"](infos), shuffle=False))
        if expert_type is not None:
            env = lib["AlfredExpert"](env, expert_type=expert_type)
        return env

    def tasks(self, split: str) -> list[str]:
        if split not in SPLITS:
            raise ActrainError(f"unknown split {split!r}; use one of {SPLITS}")
        if split not in self._tasks:
            root = self.data_dir / _DATA_VERSION / _FOLDERS[split]
            if not root.is_dir():
                raise ActrainError(_MISSING_DATA.format(path=root))
            games = [g for g in root.glob(f"*/*/{_GAME_FILE}") if _is_playable(g)]
            self._tasks[split] = sorted(g.relative_to(self.data_dir).as_posix() for g in games)
        return list(self._tasks[split])

    def _game_path(self, task: str) -> Path:
        path = (self.data_dir / task).resolve()
        if (
            not task.endswith(_GAME_FILE)
            or not path.is_relative_to(self.data_dir)
            or not path.is_file()
        ):
            raise ActrainError(
                f"bad ALFWorld task id {task!r}; expected a game path relative to "
                f"{self.data_dir}, as tasks() lists them"
            )
        return path

    def _result(self, observation: str, reward: float, done: bool) -> StepResult:
        state = self._state
        won = bool(state.get("won", False))
        info = {
            "won": won,
            "score": float(state.get("score", 1.0 if won else 0.0)),
            "task_description": self._description,
            "lost": bool(state.get("lost", False)),
        }
        return StepResult(observation=observation.strip(), reward=reward, done=done, info=info)

    def reset(self, task: str) -> StepResult:
        path = self._game_path(task)
        if self._loaded != path:  # parsing domain and grammar is the costly part; reuse it
            self._env.load(str(path))
            self._loaded = path
        self._state = self._env.reset()
        self._description = _task_description(self._state.feedback)
        return self._result(self._state.feedback, 0.0, False)

    def step(self, action: str) -> StepResult:
        if self._state is None:
            raise ActrainError("ALFWorld: call reset(task) before step()")
        self._state, reward, done = self._env.step(action)
        return self._result(self._state.feedback, float(reward), bool(done))

    def admissible_actions(self) -> list[str]:
        if self._state is None:
            return []
        return sorted(self._state.get("admissible_commands") or [])

    def expert_actions(self, task: str) -> list[str]:
        """The expert's actions for `task` (see the class docstring for the three experts).

        A leading "look" is dropped: ALFWorld's expert always opens with it to read the room,
        which the reset observation already shows, and it changes nothing in the game.
        """
        path = self._game_path(task)
        plan: list[str] | None = None
        if self.expert == "walkthrough":
            with open(path) as f:
                plan = json.load(f).get("walkthrough")
        if not plan:
            plan = self._planner(path) if self.expert == "planner" else self._handcoded(path)
        plan = [str(action) for action in plan]
        if plan and plan[0] == "look":
            plan = plan[1:]
        return plan

    def oracle_actions(self) -> list[str] | None:
        """fast-downward's plan from the current state: the planner behind ALFWorld's
        "planner" expert, asked from wherever the game now is rather than only at the start.

        It knows where every object is, so its plans never search; fast-downward's plans are
        short but not guaranteed shortest. Empty once the game is won. It reads TextWorld's
        PDDL state directly (`PddlEnv` only plans on every step when asked to, which would slow
        every step); the tests pin that this still works.
        """
        if self._state is None:
            raise ActrainError("ALFWorld: call reset(task) before oracle_actions()")
        if self._state.get("won"):
            return []
        game = self._env.unwrapped
        return [str(action) for action in game._pddl_state.replan(game._entity_infos)]

    def _expert_env(self, kind: str) -> Any:
        if kind not in self._expert_envs:
            textworld, types = self._lib["textworld"], self._lib["AlfredExpertType"]
            expert_type = types.HANDCODED if kind == "handcoded" else types.PLANNER
            infos = textworld.EnvInfos(won=True, admissible_commands=True, extras=["gamefile"])
            self._expert_envs[kind] = self._build(infos, expert_type)
        return self._expert_envs[kind]

    def _handcoded(self, path: Path) -> list[str]:
        """Run ALFWorld's handcoded expert to the goal, reading `extra.expert_plan` each step.

        The expert draws from the global `random` when it would repeat itself; it runs under a
        fixed seed so that the same game always gives the same actions, and the caller's random
        state is restored afterwards.
        """
        env = self._expert_env("handcoded")
        saved = random.getstate()
        random.seed(0)
        actions: list[str] = []
        try:
            env.load(str(path))
            state, done = env.reset(), False
            while not done and len(actions) < HANDCODED_MAX_STEPS:
                action = state["extra.expert_plan"][0]
                state, _, done = env.step(action)
                actions.append(action)
            won = bool(state["won"])
        except Exception as exc:  # the expert signals failure with bare exceptions
            raise ActrainError(f"ALFWorld's handcoded expert failed on {path}: {exc!r}") from exc
        finally:
            random.setstate(saved)
        if not won:
            raise ActrainError(f"ALFWorld's handcoded expert did not win {path}")
        return actions

    def _planner(self, path: Path) -> list[str]:
        env = self._expert_env("planner")
        env.load(str(path))
        plan = list(env.reset()["extra.expert_plan"])
        if not plan:
            raise ActrainError(f"fast-downward found no plan for {path}")
        return plan

    def close(self) -> None:
        for env in [getattr(self, "_env", None), *getattr(self, "_expert_envs", {}).values()]:
            if env is not None:
                env.close()
        self._env, self._expert_envs, self._state = None, {}, None


def _needs() -> list[str]:
    found = needs_module("alfworld", "pip install 'actrain[alfworld]'")
    found += needs_module("fast_downward", "pip install 'actrain[alfworld]'")
    if not (default_data_dir() / _DATA_VERSION).is_dir():
        found.append(f"ALFWorld games at {default_data_dir() / _DATA_VERSION}: run "
                     f"`alfworld-download` (internet), or set ALFWORLD_DATA")
    return found


@register("alfworld/text", needs=_needs)
def _build(**kwargs: Any) -> AlfWorldTextEnv:
    return AlfWorldTextEnv(**kwargs)
