"""The text-environment contract and a registry of environments by string id.

An environment is text in, text out. Everything else in actrain (expert collection, alternative
sampling, rollouts) speaks only this contract, so adding a benchmark means one adapter module that
implements it and registers itself.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import shutil
import typing
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from actrain.errors import ActrainError

SPLITS = ("train", "id_test", "ood_test")


@dataclass
class StepResult:
    """What one step (or a reset) returns."""

    observation: str
    reward: float = 0.0
    done: bool = False
    # Always holds "won" and "score". Optionally "rejected": the environment's own verdict that
    # it refused the action (unparsable, ambiguous); rollouts then trust it over the check
    # against `admissible_actions()`, for environments whose admissible list is incomplete.
    info: dict[str, Any] = field(default_factory=dict)


def parse_split_seed(task: str, name: str) -> tuple[str, int]:
    """Split a `<split>:<seed>` task id, the form of environments whose games are seeds."""
    split, _, seed = task.partition(":")
    if split not in SPLITS or not seed.isdigit():
        raise ActrainError(f"bad {name} task id {task!r}; expected '<split>:<seed>'")
    return split, int(seed)


class TextEnv(ABC):
    """A text environment: tasks per split, reset/step, admissible and expert actions.

    Branching to an earlier state is `reset(task)` followed by replaying the action prefix, which
    works for every environment, including those that cannot clone their state.
    """

    # Whether separate instances may step at the same time on different threads. An adapter
    # whose package keeps process-wide state (ALFWorld's PDDL parsers) sets it to False, and
    # collection and rollouts then step its instances one at a time.
    thread_safe: bool = True

    # Whether replaying the same actions always gives the same episode. ScienceWorld's
    # simulation is not deterministic (heat transfer, pollination: allenai/ScienceWorld#33), so
    # its expert path now and then ends short of the goal; collection replays such a path.
    deterministic: bool = True

    @abstractmethod
    def tasks(self, split: str) -> list[str]:
        """Task ids of a split (`train`, `id_test`, `ood_test`), in a stable order."""

    def expert_tasks(self, split: str) -> list[str]:
        """The tasks of a split an expert trajectory exists for (all of them, unless the
        expert is a file of demonstrations that covers only some)."""
        return self.tasks(split)

    @abstractmethod
    def reset(self, task: str) -> StepResult:
        """Start `task`; the result's `info["task_description"]` says what to achieve."""

    @abstractmethod
    def step(self, action: str) -> StepResult:
        """Apply an action; an action the game rejects is a step, never an exception."""

    @abstractmethod
    def admissible_actions(self) -> list[str]:
        """Actions valid at the current state, sorted so that runs are reproducible."""

    @abstractmethod
    def expert_actions(self, task: str) -> list[str]:
        """The expert's action sequence for `task` from its initial state."""

    def prepare(self, tasks: list[str]) -> None:  # noqa: B027 - optional hook
        """Get `tasks` ready in one batch before they are played (e.g. generate their games)."""

    @classmethod
    def instructions(cls) -> str:
        """What the model must be told about this environment's actions that the admissible
        list does not show (their syntax), added to the agent's and the judge's system prompts;
        "" (the default) adds nothing, and the prompts stay as they are.

        A class method: prompts and fingerprints read it from a run's config
        (`instructions_of`), without starting the environment."""
        return ""

    def context(self) -> str:
        """What the agent could look up at the current state without acting (its surroundings,
        its inventory), for a judge that must see more than the last observation. "" if none."""
        return ""

    def oracle_actions(self) -> list[str] | None:
        """An optimal plan from the *current* state, for environments that have an oracle.

        With it, any visited state can be labelled with a better action, also off the expert
        path (`actrain.data.offpath`). None means this environment has no oracle.
        """
        return None

    def replay(self, task: str, actions: list[str]) -> StepResult:
        """Branch to the state after `actions`: reset `task`, then step through the prefix."""
        result = self.reset(task)
        for action in actions:
            result = self.step(action)
        return result

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release external resources (a JVM, a server)."""

    def __enter__(self) -> TextEnv:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_REGISTRY: dict[str, Callable[..., TextEnv]] = {}
# What an environment needs besides actrain (packages, Java, data): `missing(env_id)`.
_NEEDS: dict[str, Callable[[], list[str]]] = {}
# Adapters that register themselves on import; importing lazily keeps optional extras optional.
_BUILTIN_MODULES = {
    "twx": "actrain.envs.textworld_express",
    "scienceworld": "actrain.envs.scienceworld",
    "textworld": "actrain.envs.textworld",
    "alfworld": "actrain.envs.alfworld",
    "webshop": "actrain.envs.webshop",
}


def register(
    env_id: str, needs: Callable[[], list[str]] | None = None
) -> Callable[[Callable[..., TextEnv]], Callable[..., TextEnv]]:
    """Decorator: make an environment constructor available as `make(env_id, ...)`. `needs`
    lists what this machine lacks to run it (checked without starting it; `actrain envs`)."""

    def wrap(factory: Callable[..., TextEnv]) -> Callable[..., TextEnv]:
        _REGISTRY[env_id] = factory
        if needs is not None:
            _NEEDS[env_id] = needs
        return factory

    return wrap


def missing(env_id: str) -> list[str]:
    """What this machine lacks to run `env_id`, each with how to get it; [] when usable."""
    check_id(env_id)
    return _NEEDS[env_id]() if env_id in _NEEDS else []


def needs_module(module: str, install: str) -> list[str]:
    """[] if `module` can be imported, else what to install (without importing it)."""
    return [] if importlib.util.find_spec(module) is not None else [f"{module}: {install}"]


def needs_java() -> list[str]:
    return [] if shutil.which("java") else ["Java 17 on PATH (apt-get install "
                                            "openjdk-17-jre-headless)"]


def require_java() -> None:
    """One line, before a JVM fails to start, when Java is not on PATH (`needs_java`)."""
    missing = needs_java()
    if missing:
        raise ActrainError(f"this environment needs {missing[0]}")


def _family(env_id: str) -> str:
    return env_id.split("/", 1)[0]


def registered_ids() -> list[str]:
    """Every registered environment id, the built-in adapters' included."""
    for module in _BUILTIN_MODULES.values():
        importlib.import_module(module)
    return sorted(_REGISTRY)


def check_id(env_id: str) -> None:
    """Refuse, in one line, an id that `make` would refuse, without starting the environment."""
    if env_id not in _REGISTRY and _family(env_id) in _BUILTIN_MODULES:
        importlib.import_module(_BUILTIN_MODULES[_family(env_id)])
    if env_id not in _REGISTRY:
        raise ActrainError(
            f"unknown environment {env_id!r}; known: {', '.join(registered_ids())}"
        )


def make(env_id: str, **kwargs: Any) -> TextEnv:
    """Create a registered environment, e.g. `make("twx/twc", split_params=...)`."""
    check_id(env_id)
    factory = _REGISTRY[env_id]
    try:
        inspect.signature(factory).bind(**kwargs)
    except TypeError as exc:
        raise ActrainError(f"environment {env_id!r} does not take env.kwargs {kwargs}: {exc}") \
            from None
    except ValueError:  # no signature to check against
        pass
    env = factory(**kwargs)
    if not isinstance(env, TextEnv):
        raise ActrainError(f"environment {env_id!r} made a {type(env).__name__}, not a "
                           f"TextEnv (actrain.envs.TextEnv)")
    return env


def use_entry_point(env: Any) -> None:
    """Register a config's `env.entry_point` ("package.module:Class") as `env.id`, then check
    the id: a user's environment runs from a YAML alone."""
    if env.entry_point:
        from actrain.config.plugins import load_object

        factory = load_object(env.entry_point, "env.entry_point")
        if not callable(factory) or (inspect.isclass(factory)
                                     and not issubclass(factory, TextEnv)):
            raise ActrainError(f"env.entry_point: {env.entry_point!r} is not a TextEnv "
                               f"subclass (actrain.envs.TextEnv) or a function making one")
        _REGISTRY[env.id] = factory
    check_id(env.id)


def env_class(factory: Callable[..., TextEnv]) -> type[TextEnv] | None:
    """The `TextEnv` class a registered factory makes: the factory itself, or the class its
    return annotation names; None where neither says."""
    if inspect.isclass(factory):
        return factory if issubclass(factory, TextEnv) else None
    try:
        made = typing.get_type_hints(factory).get("return")
    except Exception:  # an annotation that does not resolve names no class
        return None
    return made if inspect.isclass(made) and issubclass(made, TextEnv) else None


def instructions_of(env: Any) -> str:
    """The instructions (`TextEnv.instructions`) of a config's `env` section (EnvConfig), read
    from its class without starting it; "" for a factory that names no class."""
    use_entry_point(env)
    cls = env_class(_REGISTRY[env.id])
    return cls.instructions() if cls is not None else ""


def from_config(env: Any) -> TextEnv:
    """`make` for a config's `env` section (EnvConfig), its entry point included."""
    use_entry_point(env)
    return make(env.id, **env.kwargs)
