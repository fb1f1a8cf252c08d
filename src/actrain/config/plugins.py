"""Code a config names by import path: `env.entry_point`, `act.reward`, `rl.reward`.

A path is `"package.module:attribute"`, the form of Python packaging's entry points. The module
is imported from the installed packages or from the working directory (a `my_env.py` beside the
config works as it would with `python -m`), so a user's environment and reward run from a YAML
alone.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from collections.abc import Callable
from typing import Any

from actrain.errors import ActrainError


def load_object(path: str, key: str) -> Any:
    """The attribute `path` names; one clear line for a malformed path or a failed import."""
    module_name, sep, attribute = path.partition(":")
    if not sep or not module_name or not attribute:
        raise ActrainError(f"{key}: {path!r} is not an import path 'package.module:name'")
    if os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise ActrainError(f"{key}: cannot import {module_name!r} ({exc}); install it or run "
                           f"from the folder that holds it") from None
    except Exception as exc:  # the user's module failed while importing
        raise ActrainError(f"{key}: importing {module_name!r} failed: {type(exc).__name__}: "
                           f"{exc}") from None
    found: Any = module
    for part in attribute.split("."):
        if not hasattr(found, part):
            raise ActrainError(f"{key}: {module_name!r} has no {attribute!r}")
        found = getattr(found, part)
    return found


def load_reward(path: str, key: str) -> Callable[..., list[float | None]]:
    """A reward function with TRL's signature, `f(prompts, completions, **columns) -> list`:
    the dataset's columns arrive as keyword arguments, so it must take `**kwargs`."""
    reward = load_object(path, key)
    if not callable(reward):
        raise ActrainError(f"{key}: {path!r} is not a function")
    try:
        parameters = inspect.signature(reward).parameters.values()
    except (TypeError, ValueError):  # a builtin or C callable: trust it
        return reward
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        raise ActrainError(f"{key}: {path!r} must be f(prompts, completions, **kwargs), TRL's "
                           f"reward signature")
    return reward
