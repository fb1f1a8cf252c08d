"""TextWorld adapter (`textworld/cooking`): tw-cooking games generated locally from seeds.

Games come from TextWorld's own tw-cooking challenge (the First TextWorld Problems generator), so
no download is needed: a task id `<split>:<seed>` plus the split's difficulty settings name one
game, which is generated on first use and cached as a compiled `.z8` file under
`$ACTRAIN_CACHE/textworld` (default `~/.cache/actrain/textworld`), keyed by the TextWorld
version, the settings and the seed (generation and the cache: `textworld_games.py`).
Generation is deterministic by seed, byte for byte, so a cache can be deleted and rebuilt. A game
takes ~2 s to generate, plus ~3 s once per batch to start the generator process: call
`prepare(tasks)` before iterating over many new tasks.

Splits: `train` and `id_test` use the same settings on disjoint seed ranges; `ood_test` uses
harder settings (more recipe ingredients, six rooms instead of one, and TextWorld's held-out food
split). Any setting can be overridden per split with the `settings` constructor argument.

Scores: `info["score"]` is normalised to points / max_score, in [0, 1], so that scores of games
with different recipe sizes can be averaged; the raw values are in `info["points"]` and
`info["max_score"]`.

Expert and oracle: the expert is the game's generated walkthrough (`extra.walkthrough`), which
wins but is not minimal (it reads the cookbook and puts the knife down between cuts); steps the
game rejects as no-ops are dropped from it (see `expert_actions`). The oracle is
TextWorld's `policy_commands`: a winning plan recomputed from the *current* state by the game's
quest tracker, so any state, also one reached off the expert path, gets a label. It is empty
once the game is won or lost.

Quirks handled here: the first observation starts with an ASCII-art banner and every
observation ends with a `>` prompt and status line (both stripped); TextWorld has no step limit
(we add one); stepping a finished game is answered without touching the interpreter.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from actrain.envs.base import (
    SPLITS,
    StepResult,
    TextEnv,
    needs_module,
    parse_split_seed,
    register,
)
from actrain.envs.textworld_games import (
    _import_textworld,
    _quiet_interpreter,
    default_cache_root,
    generate_games,
    settings_key,
)
from actrain.errors import ActrainError

# Settings are those of TextWorld's tw-cooking challenge: `recipe` ingredients, of which `take`
# must be fetched, `go` rooms (1, 6, 9 or 12), whether containers must be opened (`open`), food
# cooked (`cook`) or cut (`cut`), a limited inventory (`drop`), and the food `split`.
_BASE_SETTINGS: dict[str, Any] = {
    "recipe": 2,
    "take": 2,
    "go": 1,
    "open": True,
    "cook": True,
    "cut": True,
    "drop": False,
    "recipe_seed": 0,
    "split": "train",
}
DEFAULT_SETTINGS: dict[str, dict[str, Any]] = {
    "train": dict(_BASE_SETTINGS),
    "id_test": dict(_BASE_SETTINGS),
    "ood_test": {**_BASE_SETTINGS, "recipe": 3, "take": 3, "go": 6, "split": "test"},
}
# Disjoint seed ranges, so that no id_test game is a train game with the same settings.
DEFAULT_SEEDS: dict[str, range] = {
    "train": range(0, 10_000),
    "id_test": range(100_000, 101_000),
    "ood_test": range(200_000, 201_000),
}

_BANNER_LINE = re.compile(r"\$\$")
_PROMPT_TAIL = re.compile(r"\n>[^\n]*\s*$")


def clean_observation(text: str) -> str:
    """Drop the start banner and the trailing `>` prompt + status line the interpreter prints."""
    lines = text.split("\n")
    banner_end = max((i for i, line in enumerate(lines) if _BANNER_LINE.search(line)), default=-1)
    text = "\n".join(lines[banner_end + 1 :])
    return _PROMPT_TAIL.sub("", text).strip()


class TextWorldCookingEnv(TextEnv):
    """tw-cooking games behind the text-env contract, with TextWorld's policy as the oracle."""

    def __init__(
        self,
        settings: dict[str, dict[str, Any]] | None = None,
        seeds: dict[str, range | list[int]] | None = None,
        step_limit: int = 100,
        cache_dir: str | Path | None = None,
        clean_walkthrough: bool = True,
    ) -> None:
        """`settings` and `seeds` override the defaults per split (settings key by key)."""
        textworld = _import_textworld()
        self.settings = {split: dict(DEFAULT_SETTINGS[split]) for split in SPLITS}
        for split, overrides in (settings or {}).items():
            if split not in SPLITS:
                raise ActrainError(f"textworld/cooking: unknown split {split!r} in settings")
            self.settings[split].update(overrides)
        self.seeds: dict[str, list[int]] = {s: list(DEFAULT_SEEDS[s]) for s in SPLITS}
        for split, values in (seeds or {}).items():
            if split not in SPLITS:
                raise ActrainError(f"textworld/cooking: unknown split {split!r} in seeds")
            self.seeds[split] = list(values)
        if self.settings["train"] == self.settings["id_test"] and (
            set(self.seeds["train"]) & set(self.seeds["id_test"])
        ):
            raise ActrainError("textworld/cooking: train and id_test seeds overlap")
        self.step_limit = step_limit
        self.clean_walkthrough = clean_walkthrough
        self.cache_root = Path(cache_dir) if cache_dir is not None else default_cache_root()
        self._textworld = textworld
        self._infos = textworld.EnvInfos(
            admissible_commands=True,
            policy_commands=True,
            extras=["walkthrough"],
            won=True,
            lost=True,
            score=True,
            max_score=True,
            objective=True,
            description=True,  # the room, for context()
            inventory=True,
        )
        self._env: Any = None
        self._game_file: Path | None = None
        self._state: Any = None
        self._last: StepResult | None = None
        self._steps = 0

    # -- games ---------------------------------------------------------------------------------

    @staticmethod
    def _parse(task: str) -> tuple[str, int]:
        return parse_split_seed(task, "TextWorld")

    def game_dir(self, task: str) -> Path:
        """The cache directory of `task`'s game (it may not be generated yet)."""
        split, seed = self._parse(task)
        key = settings_key(self.settings[split], self._textworld.__version__)
        return self.cache_root / key / f"seed{seed}"

    def game_file(self, task: str) -> Path:
        """The compiled game of `task`, generated on first use."""
        return self.prepare([task])[0]

    def prepare(self, tasks: list[str]) -> list[Path]:
        """Generate every game of `tasks` not cached yet, in one batch; return their files.

        Call it before a run over many tasks: generating them one by one on first use pays the
        generator's start-up once per game instead of once.
        """
        jobs = []
        for task in tasks:
            split, seed = self._parse(task)
            jobs.append((self.settings[split], seed, self.game_dir(task)))
        return generate_games(jobs)

    def tasks(self, split: str) -> list[str]:
        if split not in SPLITS:
            raise ActrainError(f"unknown split {split!r}; use one of {SPLITS}")
        return [f"{split}:{seed}" for seed in self.seeds[split]]

    # -- playing -------------------------------------------------------------------------------

    def _result(self, feedback: str, reward: float) -> StepResult:
        state = self._state
        max_score = float(state["max_score"] or 0)
        points = float(state["score"] or 0)
        won, lost = bool(state["won"]), bool(state["lost"])
        info = {
            "won": won,
            "lost": lost,
            "score": points / max_score if max_score > 0 else float(won),
            "points": points,
            "max_score": max_score,
            "task_description": state["objective"] or "",
            "truncated": False,
        }
        done = won or lost
        if not done and self._steps >= self.step_limit:
            done, info["truncated"] = True, True
        self._last = StepResult(clean_observation(feedback), reward, done, info)
        return self._last

    def reset(self, task: str) -> StepResult:
        game_file = self.game_file(task)
        if self._env is None or self._game_file != game_file:
            self.close()
            with _quiet_interpreter():
                self._env = self._textworld.start(str(game_file), request_infos=self._infos)
            self._game_file = game_file
        self._state = self._env.reset()
        self._steps = 0
        return self._result(self._state.feedback, 0.0)

    def step(self, action: str) -> StepResult:
        if self._env is None or self._last is None:
            raise ActrainError("textworld/cooking: call reset(task) before step()")
        if self._last.done:  # the game is over; the interpreter would only offer a restart
            return StepResult(self._last.observation, 0.0, True, dict(self._last.info))
        before = float(self._state["score"] or 0)
        self._state, _, _ = self._env.step(action)
        self._steps += 1
        after = float(self._state["score"] or 0)
        max_score = float(self._state["max_score"] or 0)
        reward = (after - before) / max_score if max_score > 0 else 0.0
        return self._result(self._state.feedback, reward)

    def admissible_actions(self) -> list[str]:
        if self._state is None or (self._last is not None and self._last.done):
            return []
        return sorted(set(self._state["admissible_commands"] or []))

    def context(self) -> str:
        """The room's description and the inventory, as the game reports them."""
        if self._state is None:
            return ""
        parts = [self._state["description"] or "", self._state["inventory"] or ""]
        return "\n".join(clean_observation(p) for p in parts if p and p.strip())

    def walkthrough(self, task: str) -> list[str]:
        """The generated walkthrough as stored in the game's metadata (no game is started)."""
        metadata_file = self.game_file(task).with_suffix(".json")
        walkthrough = json.loads(metadata_file.read_text(encoding="utf-8"))["metadata"].get(
            "walkthrough"
        )
        if not walkthrough:
            raise ActrainError(f"TextWorld game for {task} has no walkthrough ({metadata_file})")
        return list(walkthrough)

    def expert_actions(self, task: str) -> list[str]:
        """The walkthrough, without the steps the game rejects (unless `clean_walkthrough=False`).

        The generator sometimes repeats an action that already happened ("open fridge" on an
        open fridge); the game answers "already open" and nothing changes. Such a step would
        label its state with a no-op as the expert action, so we replay the walkthrough once
        and drop every action that is not admissible where it is taken. A rejected action
        changes no state, so the rest of the walkthrough still applies and still wins.
        """
        walkthrough = self.walkthrough(task)
        if not self.clean_walkthrough:
            return walkthrough
        kept = []
        self.reset(task)
        for action in walkthrough:
            if action in self.admissible_actions():
                kept.append(action)
                if self.step(action).done:
                    break
        return kept

    def oracle_actions(self) -> list[str] | None:
        """TextWorld's winning plan from the current state; empty once the game is over."""
        if self._state is None:
            raise ActrainError("textworld/cooking: call reset(task) before oracle_actions()")
        if self._last is not None and self._last.done:
            return []
        return list(self._state["policy_commands"] or [])

    def close(self) -> None:
        env, self._env = self._env, None
        self._game_file = None
        if env is not None:
            env.close()


@register("textworld/cooking",
          needs=lambda: needs_module("textworld", "pip install 'actrain[textworld]'"))
def make_cooking(**kwargs: Any) -> TextWorldCookingEnv:
    """Registry constructor; see `TextWorldCookingEnv` for the keyword arguments."""
    return TextWorldCookingEnv(**kwargs)
