"""TextWorldExpress adapter (`twx/<game>`): fast Java-backed text games (~1 ms a step).

Splits: `train` is the package's train fold with the training parameters, `id_test` its test
fold with the same parameters, `ood_test` the test fold with harder parameters (more locations
and items). A task id is `<split>:<seed>`, so it names its game on its own.

Quirks handled here: `validActions` come in varying order (we sort them); the gold path begins
with a no-op "look around" (we drop it, since the reset already shows the room); `clone()`
starts a new JVM, so branching is reset + replay, which the contract already prescribes.
"""

from __future__ import annotations

from typing import Any

from actrain.envs.base import (
    SPLITS,
    StepResult,
    TextEnv,
    needs_java,
    needs_module,
    parse_split_seed,
    register,
    require_java,
)
from actrain.errors import ActrainError

DEFAULT_PARAMS: dict[str, dict[str, str]] = {
    "twc": {
        "train": "numLocations=1,numItemsToPutAway=2,includeDoors=0,limitInventorySize=0",
        "id_test": "numLocations=1,numItemsToPutAway=2,includeDoors=0,limitInventorySize=0",
        "ood_test": "numLocations=2,numItemsToPutAway=3,includeDoors=0,limitInventorySize=0",
    },
    "cookingworld": {
        "train": "numLocations=1,numIngredients=2,numDistractorItems=2,includeDoors=0,"
        "limitInventorySize=0",
        "id_test": "numLocations=1,numIngredients=2,numDistractorItems=2,includeDoors=0,"
        "limitInventorySize=0",
        "ood_test": "numLocations=3,numIngredients=3,numDistractorItems=4,includeDoors=0,"
        "limitInventorySize=0",
    },
}
_FOLD = {"train": "train", "id_test": "test", "ood_test": "test"}


def _import_twx() -> Any:
    try:
        from textworld_express import TextWorldExpressEnv
    except ImportError:
        raise ActrainError(
            "TextWorldExpress is not installed: pip install 'actrain[twx]'"
        ) from None
    return TextWorldExpressEnv


class TextWorldExpressTextEnv(TextEnv):
    """One TextWorldExpress game (twc, cookingworld, ...) behind the text-env contract."""

    def __init__(
        self,
        game: str,
        split_params: dict[str, str] | None = None,
        step_limit: int = 100,
    ) -> None:
        params = dict(DEFAULT_PARAMS.get(game, {}))
        params.update(split_params or {})
        missing = [s for s in SPLITS if s not in params]
        if missing:
            raise ActrainError(f"twx/{game}: no game parameters for split(s) {missing}")
        require_java()
        self.game = game
        self.split_params = params
        self._env = _import_twx()(envStepLimit=step_limit)
        self._loaded: tuple[str, str] | None = None
        self._infos: dict[str, Any] = {}

    def _load(self, split: str) -> None:
        key = (self.game, self.split_params[split])
        if self._loaded != key:
            try:
                self._env.load(*key)
            except ValueError as exc:
                raise ActrainError(
                    f"twx/{self.game} rejected parameters {key[1]!r}: {exc}"
                ) from exc
            self._loaded = key

    def tasks(self, split: str) -> list[str]:
        if split not in SPLITS:
            raise ActrainError(f"unknown split {split!r}; use one of {SPLITS}")
        self._load(split)
        if _FOLD[split] == "train":
            seeds = self._env.getValidSeedsTrain()
        else:
            seeds = self._env.getValidSeedsTest()
        return [f"{split}:{seed}" for seed in seeds]

    @staticmethod
    def _parse(task: str) -> tuple[str, int]:
        return parse_split_seed(task, "TextWorldExpress")

    def _result(self, observation: str, reward: float, done: bool) -> StepResult:
        infos = self._infos
        info = {
            "won": bool(infos.get("tasksuccess", False)),
            "score": float(infos.get("score", 0.0)),
            "task_description": infos.get("taskDescription", ""),
            "lost": bool(infos.get("taskfailure", False)),
        }
        return StepResult(observation=observation.strip(), reward=reward, done=done, info=info)

    def reset(self, task: str, gold_path: bool = False) -> StepResult:
        split, seed = self._parse(task)
        self._load(split)
        observation, self._infos = self._env.reset(
            seed=seed, gameFold=_FOLD[split], generateGoldPath=gold_path
        )
        return self._result(observation, 0.0, False)

    def step(self, action: str) -> StepResult:
        observation, reward, done, self._infos = self._env.step(action)
        return self._result(observation, float(reward), bool(done))

    def context(self) -> str:
        """The room (the game's `look`) and the inventory, as the game reports them."""
        parts = [self._infos.get("look", ""), self._infos.get("inventory", "")]
        return "\n".join(" ".join(p.split()) for p in parts if p and p.strip())

    def admissible_actions(self) -> list[str]:
        return sorted(self._infos.get("validActions", []))

    def expert_actions(self, task: str) -> list[str]:
        self.reset(task, gold_path=True)
        gold = list(self._env.getGoldActionSequence())
        if gold and gold[0].startswith("ERROR"):
            raise ActrainError(f"TextWorldExpress gave no gold path for {task}: {gold[0]}")
        if gold and gold[0] == "look around":
            gold = gold[1:]
        return gold

    def close(self) -> None:
        env, self._env = getattr(self, "_env", None), None
        if env is not None:
            env.close()


def _factory(game: str):  # noqa: ANN202 - a registry constructor
    def build(**kwargs: Any) -> TextWorldExpressTextEnv:
        return TextWorldExpressTextEnv(game, **kwargs)

    return build


for _game in ("twc", "cookingworld", "coin", "mapreader", "arithmetic", "sorting"):
    register(f"twx/{_game}", needs=lambda: [
        *needs_module("textworld_express", "pip install 'actrain[twx]'"), *needs_java()])(
        _factory(_game))
