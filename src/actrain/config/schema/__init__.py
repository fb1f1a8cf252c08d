"""Run configuration: dataclasses loaded from YAML, with `key.sub=value` command-line overrides.

The ACT stage passes its `grpo:` mapping straight to TRL's `GRPOConfig`, so every TRL option is
available without actrain re-declaring it; actrain only sets CPU-friendly defaults.

This module holds the whole run's config (`RunConfig`), its loading and its dict form; its
sections live beside it by what they set: `data.py` (environment, data, alternatives, critic),
`training.py` (the stages and their adapters) and `evaluation.py` (critic and agent
evaluation, the hard set, comparisons, the generation engine). Every section is importable
from here, the one name callers use.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from actrain.config.loading import build, merge, parse_overrides, yaml_problem
from actrain.config.schema.data import (
    ALTERNATIVE_KINDS,
    ALTERNATIVE_MODES,
    ALTERNATIVE_RULES,
    IL_THINKING,
    AlternativeConfig,
    CriticConfig,
    DataConfig,
    EnvConfig,
)
from actrain.config.schema.evaluation import (
    GENERATION_BACKENDS,
    CompareConfig,
    EvalConfig,
    GenerationConfig,
    HardSetConfig,
    RolloutConfig,
)
from actrain.config.schema.training import (
    ACT_OBJECTIVES,
    ACTConfig,
    GRPOStageConfig,
    ILConfig,
    PeftConfig,
    RLConfig,
    SRConfig,
)
from actrain.errors import ActrainError

__all__ = [
    "ACT_OBJECTIVES", "ALTERNATIVE_KINDS", "ALTERNATIVE_MODES", "ALTERNATIVE_RULES",
    "GENERATION_BACKENDS", "IL_THINKING", "ACTConfig", "AlternativeConfig", "CompareConfig",
    "CriticConfig", "DataConfig", "EnvConfig", "EvalConfig", "GRPOStageConfig",
    "GenerationConfig", "HardSetConfig", "ILConfig", "PeftConfig", "RLConfig", "RolloutConfig",
    "RunConfig", "SRConfig", "load_config", "parse_overrides", "to_dict",
]


@dataclass
class RunConfig:
    name: str = "quickstart"  # the run's folder is runs_dir/name
    runs_dir: str = "runs"  # where run folders are made
    seed: int = 0  # data seed (alternatives, exploration); `actrain run` trains with it too
    model: str = "smollm2-135m"  # base model: embedded id, hub id or checkpoint folder
    # Training stages in order, joined by "_": "act", "act_il", "act_il_rl", "il_rl_rl", ...
    # "prompt" trains nothing. `actrain run` also evaluates the untrained model as "prompt".
    pipeline: str = "act"
    # auto = this process's GPU if one is visible, else the CPU; or cpu, cuda, cuda:N
    device: str = "auto"
    dtype: str = "auto"  # compute dtype; auto = bf16 on GPUs and CPUs that compute it natively
    # Passed to the chat template for every prompt, e.g. {enable_thinking: false} for Qwen3
    chat_template_kwargs: dict[str, Any] = field(default_factory=dict)
    threads: int = 0  # torch threads; 0 = all cores
    # Seconds a process waits for the others at a collective (under accelerate launch) before
    # the run stops; torch's own NCCL default is 10 minutes
    collective_timeout: int = 3600
    # Trackers for every stage and evaluation: tensorboard, wandb, trackio (runtime/tracking.py)
    report_to: list[str] = field(default_factory=list)
    run_name: str = ""  # the run's name in the trackers (empty: `name`)
    env: EnvConfig = field(default_factory=EnvConfig)  # the environment and its adapter's options
    data: DataConfig = field(default_factory=DataConfig)  # expert trajectories and actor prompt
    # How each state's alternative action (a pair's other side) is drawn
    alternatives: AlternativeConfig = field(default_factory=AlternativeConfig)
    critic: CriticConfig = field(default_factory=CriticConfig)  # the judgment task's prompt
    # Held-out pairs where surface rules fail: the headline critic figure
    hard_set: HardSetConfig = field(default_factory=HardSetConfig)
    act: ACTConfig = field(default_factory=ACTConfig)  # the ACT stage: RL on judgments
    il: ILConfig = field(default_factory=ILConfig)  # imitation learning (SFT on expert actions)
    # Early Experience baselines (Zhang et al. 2025), each SFT on its own data:
    sr: SRConfig = field(default_factory=SRConfig)  # self-reflection: rationale + expert action
    # implicit world modelling: the next observation after the expert's action and the other's
    iwm: ILConfig = field(default_factory=ILConfig)
    rl: RLConfig = field(default_factory=RLConfig)  # RL on next actions from expert states
    eval: EvalConfig = field(default_factory=EvalConfig)  # held-out critic evaluation
    rollout: RolloutConfig = field(default_factory=RolloutConfig)  # agent evaluation protocol
    compare: CompareConfig = field(default_factory=CompareConfig)  # `actrain compare`'s grid
    peft: PeftConfig = field(default_factory=PeftConfig)  # LoRA / QLoRA for every stage
    # The generation engine outside training (alternatives, critic evaluation, rollouts)
    generation: GenerationConfig = field(default_factory=GenerationConfig)

    def __post_init__(self) -> None:
        self.report_to = [name for name in self.report_to if name != "none"]

    @property
    def run_dir(self) -> Path:
        return Path(self.runs_dir) / self.name

    @property
    def tracking_name(self) -> str:
        return self.run_name or self.name


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> RunConfig:
    """The run config of a YAML file (None: the defaults) with `key.sub=value` overrides on
    top; a wrong key, type or file is one ActrainError naming it."""
    data: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.exists():
            raise ActrainError(f"config file {path} does not exist")
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ActrainError(f"config file {path} is not valid YAML: {yaml_problem(exc)}") \
                from None
        except UnicodeDecodeError as exc:
            raise ActrainError(f"config file {path} is not UTF-8 text (byte {exc.start})") \
                from None
    data = merge(data, parse_overrides(overrides or []))
    try:
        return build(RunConfig, data)
    except TypeError as exc:
        raise ActrainError(f"bad config: {exc}") from None


def to_dict(config: RunConfig) -> dict[str, Any]:
    return dataclasses.asdict(config)
