"""Methods: the training stages a method is made of, and the settings each stage reads.

A method is its stages joined by "_" (`act_il_rl` = ACT, then IL, then RL; `prompt` trains
nothing). `act` trains the critic with `act.objective`; `act-grpo`, `act-sft` and `act-dpo` name
the objective, so one comparison can hold GRPO next to its supervised ablations. `sr` and `iwm`
are Early Experience's baselines (self-reflection mixed with IL; world modelling, then `il`).

A stage receives its own section and the few run-wide settings it reads (`stage_inputs`), never
the whole run config; its fingerprint (`run/keys.py`) is computed from that very object, so a
setting a stage reads cannot be missing from its key.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from actrain.config.schema import (
    ACTConfig,
    CriticConfig,
    EvalConfig,
    ILConfig,
    PeftConfig,
    RLConfig,
    RunConfig,
    SRConfig,
)
from actrain.envs import instructions_of
from actrain.errors import ActrainError
from actrain.prompts import ActorView, CriticView, view_key


def is_act(stage: str) -> bool:
    return stage == "act" or stage.startswith("act-")


def stage_config(config: RunConfig, stage: str) -> Any:
    """The settings a training stage reads: its section (`stages/registry.py`); `act-sft` is
    the `act` section with objective sft."""
    from actrain.stages import registry

    section = getattr(config, registry.get(stage).section)
    if is_act(stage):
        return dataclasses.replace(section, objective=registry.variant(stage)
                                   or section.objective)
    return section


def actor_view(config: RunConfig) -> ActorView:
    """How the actor stages of a run see a state, with its environment's instructions."""
    return ActorView.of(config.data, instructions_of(config.env))


@dataclass(frozen=True)
class TrainerSettings:
    """What every TRL trainer of a stage reads from the top level of the run config."""

    seed: int = 0
    dtype: str = "float32"
    device: str = "cpu"
    peft: PeftConfig = dataclasses.field(default_factory=PeftConfig)
    report_to: tuple[str, ...] = ()  # trackers (runtime/tracking.py); they change no result
    run_name: str = ""  # the stage's name in them
    stage: str = ""  # which stage these inputs are for (`stages/registry.py`)


@dataclass(frozen=True)
class ACTInputs:
    """The ACT stage: its section, how the choice is posed, and how the held-out curve is run."""

    act: ACTConfig
    critic: CriticConfig
    eval: EvalConfig
    trainer: TrainerSettings
    instructions: str = ""  # the environment's (`TextEnv.instructions`), in the judge's prompt

    @property
    def critic_view(self) -> CriticView:
        """How the judge is shown a pair: the critic section's view with the instructions."""
        return CriticView.of(self.critic, self.instructions)


@dataclass(frozen=True)
class ILInputs:
    il: ILConfig
    view: ActorView
    trainer: TrainerSettings


@dataclass(frozen=True)
class RLInputs:
    rl: RLConfig
    view: ActorView
    trainer: TrainerSettings


@dataclass(frozen=True)
class SRInputs:
    sr: SRConfig
    view: ActorView
    trainer: TrainerSettings


@dataclass(frozen=True)
class IWMInputs:
    iwm: ILConfig
    view: ActorView
    trainer: TrainerSettings


StageInputs = ACTInputs | ILInputs | RLInputs | SRInputs | IWMInputs
SFTInputs = ILInputs | SRInputs | IWMInputs  # stages that are SFT on their own examples


def sft_section(inputs: SFTInputs) -> tuple[str, ILConfig]:
    """(section name, settings) of an SFT stage: `il`, `sr` or `iwm`."""
    name = dataclasses.fields(inputs)[0].name
    return name, getattr(inputs, name)


def data_of(stage: str) -> str:
    """Which data step's output a training stage reads: pairs (ACT), outcomes (IWM),
    rationales (SR) or the expert trajectories alone (IL, RL)."""
    from actrain.stages import registry

    return registry.get(stage).data


def stage_inputs(config: RunConfig, stage: str, seed: int | None = None) -> StageInputs:
    """Everything training `stage` reads, with `seed` in place of the run's."""
    from actrain.stages import registry

    trainer = TrainerSettings(config.seed if seed is None else seed, config.dtype,
                              config.device, config.peft, tuple(config.report_to),
                              config.tracking_name, stage)
    return registry.get(stage).inputs(config, stage, trainer)


def key_settings(inputs: StageInputs) -> dict[str, Any]:
    """`inputs` as a stage's fingerprint takes them: settings that change no result are out."""
    settings = dataclasses.asdict(inputs)
    # where it runs, what watches it and which stage it is (the key names the stage itself)
    for where in ("device", "report_to", "run_name", "stage"):
        settings["trainer"].pop(where)  # (numerics aside) are not what it learns
    section = settings[dataclasses.fields(inputs)[0].name]
    section.pop("micro_batch")  # how a step is cut into micro-batches changes no result
    if section.get("reward") == "":
        del section["reward"]  # the built-in reward: keys as before rewards could be named
    if "critic" in settings:
        settings["critic"] = critic_key_settings(settings["critic"])
    if "eval" in settings:
        settings["eval"] = sampling_key_settings(settings["eval"])
    if "dpo_scope" in section and section["objective"] != "dpo":
        del section["dpo_scope"]  # only DPO reads it
    if section.get("pairs_per_state") == 0:
        del section["pairs_per_state"]  # all pairs: what ACT trained on before it was a setting
    view = settings.get("view")
    stage = dataclasses.fields(inputs)[0].name
    if view is not None and not (view["reasoning"] and stage in ("il", "sr")):
        view.pop("il_thinking")  # only reasoning IL targets (IL, SR's IL rows) read it
    # An empty `instructions` (the view's, or ACT's beside its sections) keys as before.
    view_key(view if view is not None else settings)
    return settings


# Sampling settings added after runs were keyed, with the values that reproduce the earlier
# decoding: a section at these values keys as before they existed.
SAMPLING_DEFAULTS = {"top_p": 1.0, "top_k": 0, "samples": 1}


def sampling_key_settings(section: dict[str, Any]) -> dict[str, Any]:
    """An `eval` / `rollout` section as keys take it: the later sampling keys only when set."""
    return {k: v for k, v in section.items()
            if k not in SAMPLING_DEFAULTS or v != SAMPLING_DEFAULTS[k]}


def critic_key_settings(critic: dict[str, Any]) -> dict[str, Any]:
    """The critic section as keys take it: `candidates` only when K-way, so that pair runs
    keep the keys they had before K-way choice existed; action-format answers with the tag they
    are written in, since those answers moved from <answer> to the agent's <action> tag."""
    settings = {k: v for k, v in critic.items() if k != "candidates" or v != 2}
    if settings.get("answer_format") == "action":
        settings["answer_tag"] = "action"
    return settings


def critic_prefix(prefix: tuple[str, ...]) -> tuple[str, ...] | None:
    """The prefix up to the method's ACT stage (its critic checkpoint), if it has one."""
    for i, stage in enumerate(prefix):
        if is_act(stage):
            return prefix[: i + 1]
    return None


COT_SUFFIX = "-cot"
DIRECT_SUFFIX = "-direct"


def rollout_reasoning(method: str) -> bool | None:
    """Whether a method's agent reasons before its action in rollouts: True with the `-cot`
    suffix (`prompt-cot` is the paper's "prompt w/ CoT"), False with `-direct` (the action at
    once: "prompt w/o CoT" where `data.actor_reasoning` is on), None for the run's own
    `data.actor_reasoning`."""
    if method.endswith(COT_SUFFIX):
        return True
    if method.endswith(DIRECT_SUFFIX):
        return False
    return None


def method_stages(method: str) -> tuple[str, ...]:
    """`"act_il_rl"` -> `("act", "il", "rl")`; `"prompt"` -> `()`; a `-cot` or `-direct` suffix
    changes the rollouts, not the stages (`"sr-cot"` -> `("sr",)`)."""
    method = method.removesuffix(COT_SUFFIX).removesuffix(DIRECT_SUFFIX)
    if method == "prompt":
        return ()
    from actrain.stages.registry import names

    parts = tuple(method.split("_"))
    if not method or any(p not in names() for p in parts):
        raise ActrainError(
            f"unknown method {method!r}: use 'prompt' or training stages "
            f"{', '.join(names())} joined by '_' (e.g. act_il_rl, il_rl_rl), "
            f"optionally ending in '{COT_SUFFIX}' (rollouts that reason first) or "
            f"'{DIRECT_SUFFIX}' (rollouts that act at once)"
        )
    return parts
