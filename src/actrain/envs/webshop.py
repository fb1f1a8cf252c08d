"""WebShop adapter (`webshop/text`): the real WebShop text environment behind the contract.

WebShop is not installable from PyPI (the `webshop` package there is an empty stub): install its
repository (github.com/princeton-nlp/WebShop, `setup.sh` downloads the product data) so that
`web_agent_site` imports, then create this environment. The adapter drives WebShop's own
`WebAgentTextEnv` in its `text` observation mode, in process (no browser, no server).

- Task = an instruction (a WebShop *goal*, by index into the environment's goal list). A task id
  is `goal:<index>`. Splits follow WebShop's own convention: goals 0-499 are the test set
  (`id_test`, the paper's 500 test instructions), 500-1499 the dev set, 1500+ `train`. WebShop
  has no out-of-distribution split: `ood_test` is empty.
- Actions are WebShop's own: `search[<keywords>]` and `click[<button or product>]`. Admissible
  actions are the page's clickables as `click[...]`; a page with a search bar also accepts any
  `search[...]`, which cannot be listed (so on the search page the list is empty).
- Reward is WebShop's 0-1 purchase reward, given when "Buy Now" is clicked; `score` is that
  reward x 100 and `won` is a reward of 1 (the paper's success rate).
- Expert: WebShop ships human demonstrations, not a planner. `expert_file` names a JSON file
  mapping a task id (or goal index) to its action list; without one, `expert_actions` says so.
  With one, `train` lists only the goals that have a demonstration.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from actrain.envs.base import SPLITS, StepResult, TextEnv, needs_module, register
from actrain.errors import ActrainError

SPLIT_GOALS = {"id_test": (0, 500), "train": (1500, None)}  # 500-1499: WebShop's dev set
INSTALL = (
    "WebShop is not installed: clone github.com/princeton-nlp/WebShop, run its setup.sh "
    "(downloads the product data) and `pip install -e .` there, so that `web_agent_site` imports"
)


# What the model is told of WebShop's actions (`TextEnv.instructions`): the two forms, with
# where each applies, in as few words as will do (prompt length is time on a CPU).
INSTRUCTIONS = ("Actions are search[keywords] on a page with a search box, or click[item] to "
                "click a button, product or option shown on the page, e.g. search[blue cotton "
                "shirt] or click[buy now].")


_SERVERS: dict[tuple[int | None, bool], Any] = {}


def _import_webshop() -> Any:
    try:
        from web_agent_site.envs.web_agent_text_env import WebAgentTextEnv
    except ImportError:
        raise ActrainError(INSTALL) from None
    return WebAgentTextEnv


def click(label: str) -> str:
    return f"click[{label}]"


class WebShopTextEnv(TextEnv):
    """WebShop's text environment (one shopping session at a time) behind the contract."""

    def __init__(
        self,
        num_products: int | None = None,
        human_goals: bool = True,
        expert_file: str | None = None,
        backend: Any = None,
    ) -> None:
        """`num_products` limits the catalogue (WebShop's 1k-product debug set loads fastest);
        `human_goals` uses the human-written instructions (the paper's test set). `backend` is an
        already-built `WebAgentTextEnv` (or any object with its interface) to wrap instead."""
        if backend is None:
            cls = _import_webshop()
            # The simulated server holds the catalogue and search index: build it once per
            # process and share it (WebShop's own `server=` argument), as rollouts open many.
            key = (num_products, bool(human_goals))
            backend = cls(observation_mode="text", num_products=num_products,
                          human_goals=int(human_goals), server=_SERVERS.get(key))
            _SERVERS.setdefault(key, backend.server)
        self._env = backend
        self._experts = self._load_experts(expert_file) if expert_file else None
        self._reward = 0.0
        self._done = False

    @staticmethod
    def _load_experts(path: str) -> dict[str, list[str]]:
        file = Path(path)
        try:
            data = json.loads(file.read_text())
        except FileNotFoundError:
            raise ActrainError(f"WebShop expert file {file} does not exist") from None
        except json.JSONDecodeError as exc:
            raise ActrainError(f"WebShop expert file {file} is not valid JSON: {exc}") from None
        if not isinstance(data, dict) or not all(isinstance(v, list) for v in data.values()):
            raise ActrainError(f"WebShop expert file {file} must map task ids to action lists")
        return {k if k.startswith("goal:") else f"goal:{k}": v for k, v in data.items()}

    @classmethod
    def instructions(cls) -> str:
        """WebShop's action syntax: the admissible list shows the page's clicks, but never
        `search[...]` (its keywords are free text), so a model could not guess either form."""
        return INSTRUCTIONS

    def tasks(self, split: str) -> list[str]:
        if split not in SPLITS:
            raise ActrainError(f"unknown split {split!r}; use one of {SPLITS}")
        if split == "ood_test":
            return []
        total = len(self._env.server.goals)
        start, stop = SPLIT_GOALS[split]
        tasks = [f"goal:{i}" for i in range(start, min(stop or total, total))]
        if split == "train" and self._experts is not None:
            # Training needs expert data: demonstrations do not cover every training goal.
            tasks = [task for task in tasks if task in self._experts]
        return tasks

    def expert_tasks(self, split: str) -> list[str]:
        """Goals with a demonstration: held-out critic pairs need one; rollouts use them all."""
        if self._experts is None:  # expert_actions says how to supply them
            return self.tasks(split)
        return [task for task in self.tasks(split) if task in self._experts]

    @staticmethod
    def _parse(task: str) -> int:
        prefix, _, index = task.partition(":")
        if prefix != "goal" or not index.isdigit():
            raise ActrainError(f"bad WebShop task id {task!r}; expected 'goal:<index>'")
        return int(index)

    def _result(self, observation: str, reward: float, done: bool) -> StepResult:
        info = {
            "won": self._reward >= 1.0,
            "score": 100.0 * self._reward,
            "task_description": str(getattr(self._env, "instruction_text", "")).strip(),
        }
        return StepResult(observation=observation.strip(), reward=reward, done=done, info=info)

    def reset(self, task: str) -> StepResult:
        observation, _ = self._env.reset(session=self._parse(task))
        self._reward, self._done = 0.0, False
        return self._result(observation, 0.0, False)

    def step(self, action: str) -> StepResult:
        if self._done:  # WebShop keeps answering after a purchase; the episode is over
            return self._result("The purchase is complete.", 0.0, True)
        observation, reward, done, _ = self._env.step(action)
        self._reward = max(self._reward, float(reward or 0.0))
        self._done = bool(done)
        return self._result(observation, float(reward or 0.0), self._done)

    def admissible_actions(self) -> list[str]:
        available = self._env.get_available_actions()
        return sorted(click(c) for c in available.get("clickables", []) if c != "search")

    def expert_actions(self, task: str) -> list[str]:
        self._parse(task)
        if self._experts is None:
            raise ActrainError(
                "WebShop has no built-in expert: pass env.kwargs.expert_file, a JSON file "
                "mapping task ids ('goal:<index>') to action lists (e.g. from WebShop's human "
                "demonstrations)"
            )
        if task not in self._experts:
            raise ActrainError(f"the WebShop expert file has no actions for {task}")
        return list(self._experts[task])

    def close(self) -> None:
        env, self._env = getattr(self, "_env", None), None
        if env is not None and hasattr(env, "close"):
            env.close()


@register("webshop/text", needs=lambda: needs_module(
    "web_agent_site", "clone github.com/princeton-nlp/WebShop, run setup.sh, pip install -e ."))
def _build(**kwargs: Any) -> WebShopTextEnv:
    return WebShopTextEnv(**kwargs)
