"""The training stages a method can name, each declared once by its own module.

A stage module ends with a `Stage`: the config section it reads, the settings object it receives
(its inputs, which are also its fingerprint), the data step whose output it trains on, the TRL
config it builds, how it trains, and what `actrain plan` counts for it. The pipeline, `plan`,
the fingerprints and the config checks look a stage up here by name, so adding a stage is its
module and one line: an entry of `BUILT_IN`, or `register(stage)` from a plugin or a test.

Stage modules import TRL and datasets at their top, so they are imported on first lookup, not
when a method's name is checked (`names`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from actrain.errors import ActrainError

if TYPE_CHECKING:
    from actrain.config.schema import RunConfig

# A stage's inputs are one of the dataclasses of `stages/inputs.py` (which looks stages up here,
# so this module names them only as `Any`).
StageInputs = Any
TrainerSettings = Any

# name -> the module that declares it (`STAGE`, or `STAGES` for a module of several)
BUILT_IN = {
    "act": "actrain.stages.act",
    "il": "actrain.stages.il",
    "rl": "actrain.stages.rl",
    "sr": "actrain.stages.early_experience",
    "iwm": "actrain.stages.early_experience",
}


class StageData(Protocol):
    """The run's data files a stage may read, loaded only when asked for."""

    def trajectories(self) -> list[Any]: ...
    def train_pairs(self) -> list[Any]: ...
    def eval_pairs(self) -> list[Any]: ...
    def hard_pairs(self) -> list[Any]: ...  # the hard critic set ([] where the run has none)
    def outcomes(self) -> list[Any]: ...
    def rationales(self) -> list[Any]: ...


@dataclass(frozen=True)
class PlanWork:
    """What a stage's row of `actrain plan` counts: an SFT-shaped stage trains `rows` examples
    (`pairs_per_example` sequences each: DPO's chosen and rejected); a GRPO-shaped stage samples
    `num_generations` completions of up to `completion` tokens for `rows` dataset rows."""

    grpo: bool
    settings: Any  # the stage's section (batch_size, epochs, max_steps, ...)
    rows: float
    completion: int
    pairs_per_example: int = 1
    critic_curve: bool = False  # the held-out critic curve every `eval_every` steps (ACT)
    pair_groups: bool = False  # pair groups resampled while flat (ACT's GRPO)


@dataclass(frozen=True)
class Stage:
    """One training stage, as the run machinery sees it."""

    name: str
    section: str  # the run config's section it reads (an attribute of `RunConfig`)
    inputs: Callable[[RunConfig, str, TrainerSettings], StageInputs]
    data: str  # the data step it reads: collect (expert trajectories), pairs, outcomes, ...
    trl_args: Callable[[StageInputs, Path], Any]  # its TRL config, built before the model loads
    train: Callable[[Any, Any, StageInputs, StageData, Path], Any]  # model, tokenizer, ...
    plan: Callable[[RunConfig, str, float], PlanWork]  # config, stage name, expert states
    # `<name>-<variant>` names the same stage with a variant (`act-sft`: ACT by SFT)
    variants: tuple[str, ...] = ()


_registered: dict[str, Stage] = {}


def register(stage: Stage) -> Stage:
    """Make `stage` nameable in methods (`il_<name>`); returns it, for use as a module's
    `STAGE = register(Stage(...))`."""
    _registered[stage.name] = stage
    return stage


def names() -> tuple[str, ...]:
    """Every stage name a method may use, variants included (`act-grpo`, ...)."""
    out = list(dict.fromkeys([*BUILT_IN, *_registered]))
    for name in list(out):
        stage = _registered.get(name)
        variants = stage.variants if stage else _BUILT_IN_VARIANTS.get(name, ())
        out += [f"{name}-{v}" for v in variants]
    return tuple(out)


# Known without importing the module, so that a method's name is checked cheaply.
_BUILT_IN_VARIANTS = {"act": ("grpo", "sft", "dpo")}


def base_name(name: str) -> str:
    """`act-sft` -> `act`: the stage a variant belongs to."""
    return name.partition("-")[0] if name not in _registered else name


def variant(name: str) -> str:
    """`act-sft` -> `sft`; "" for the stage itself."""
    return name.partition("-")[2] if name not in _registered else ""


def get(name: str) -> Stage:
    """The stage `name` (or its variant) declares."""
    base = base_name(name)
    if base not in _registered:
        if base not in BUILT_IN:
            raise ActrainError(f"unknown training stage {name!r}; known: {', '.join(names())}")
        module = importlib.import_module(BUILT_IN[base])
        declared: Sequence[Stage] = getattr(module, "STAGES", None) or [module.STAGE]
        for stage in declared:
            _registered.setdefault(stage.name, stage)
    stage = _registered[base]
    if variant(name) and variant(name) not in stage.variants:
        raise ActrainError(f"unknown training stage {name!r}; known: {', '.join(names())}")
    return stage
