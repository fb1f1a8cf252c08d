"""The sections of the training stages: ACT (`act`), imitation learning (`il`, `iwm`),
Early Experience's self-reflection (`sr`), RL on next actions (`rl`) and the LoRA / QLoRA
adapters all of them may train (`peft`).

They are the settings of the optimisation alone, kept apart from the data and evaluation
sections: each stage's module (`stages/`) reads its own section through `stages/inputs.py`, the
GRPO stages sharing `GRPOStageConfig` and the SFT ones `ILConfig`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from actrain.errors import ActrainError


@dataclass
class GRPOStageConfig:
    """What every GRPO stage (ACT, RL) shares. `grpo` holds any extra `trl.GRPOConfig` fields."""

    max_steps: int = 20  # 0: `epochs` passes over the stage's own data instead
    epochs: float = 1.0  # with max_steps 0 (ACT: over the pairs; RL: over the expert states)
    learning_rate: float = 1e-5  # peak learning rate (TRL's default schedule)
    beta: float = 0.0  # KL weight to the reference model (TRL's beta; 0 loads no reference)
    num_generations: int = 8  # completions a GRPO group (G)
    prompts_per_step: int = 2  # prompts (groups) an optimizer step, over all processes
    temperature: float = 1.0  # sampling temperature of the completions
    save_steps: int = 0  # keep TRL checkpoints every N steps for resuming (0 = none)
    # Completions a device takes in one forward/backward (0 = its whole share of the step); the
    # rest of its share is gradient accumulation. `prompts_per_step` stays a global figure.
    micro_batch: int = 0
    grpo: dict[str, Any] = field(default_factory=dict)  # extra trl.GRPOConfig fields


ACT_OBJECTIVES = ("grpo", "sft", "dpo")


@dataclass
class ACTConfig(GRPOStageConfig):
    """The judgment task: GRPO (the method), or SFT / DPO on the same pairs (the paper's ablations).

    For GRPO, `prompts_per_step` counts training rows per step: pairs with `advantage_group:
    pair`, shown prompts with `prompt`.
    """

    objective: str = "grpo"  # grpo | sft (on the correct choice) | dpo (expert's choice preferred)
    correct_reward: float = 1.0  # the judgment picks the expert's action
    wrong_reward: float = 0.0  # it picks the alternative
    malformed_reward: float = -0.5  # no answer can be read from it
    # Your own reward instead of the three above, "package.module:function" with TRL's
    # signature f(prompts, completions, **columns); columns: actions, label, expert_first
    reward: str = ""
    # "pair": a GRPO group shows one pair G/2 times in each order and shares one baseline, so a
    # constant-position answer still gets a gradient towards the content (see choice_grpo.py).
    # "prompt": TRL's default, a group is G samples of one shown order.
    advantage_group: str = "pair"
    consistency_reward: float = 0.0  # weight of J1's both-orders-right bonus (pair groups only)
    # All-right / all-wrong groups: keep; filter them out of the loss; resample them with other
    # pairs (up to resample_tries times a group; pair groups only).
    zero_variance: str = "resample"
    resample_tries: int = 4  # with zero_variance "resample": new pairs tried a group
    # GRPO: sample and score each distinct shown prompt once, not G times (1-token answers: one
    # forward; longer answers, in one process: the prompt's cache shared by its samples).
    # DPO: run a pair's chosen and rejected rows as one row sharing the prompt (same loss).
    shared_prompt_pass: bool = True
    both_orders: bool = True  # prompt groups, SFT, DPO: train on every pair in both shown orders
    # Prompt groups: put both orders of a pair in the same GRPO step (shuffling pairs, not rows).
    paired_batches: bool = True
    eval_every: int = 0  # held-out critic accuracy every N steps (0 = only at the end)
    batch_size: int = 8  # SFT / DPO: examples (a pair in one order) per step, all processes
    sft: dict[str, Any] = field(default_factory=dict)  # extra trl.SFTConfig fields
    dpo: dict[str, Any] = field(default_factory=dict)  # extra trl.DPOConfig fields
    # DPO's log-probabilities: "decision" (the answers up to the first token where they differ:
    # the choice) or "answer" (the whole answer, TRL's default, which DPO can satisfy with the
    # tokens after the choice; see stages/choice_dpo.py).
    dpo_scope: str = "decision"
    # Pairs of a state ACT trains on, the first ones (0 = all). With alternatives.per_state > 1,
    # 1 keeps the paper's one pair a state while Early Experience reflects over all of them.
    pairs_per_state: int = 0

    def __post_init__(self) -> None:
        if self.pairs_per_state < 0:
            raise ActrainError(f"act.pairs_per_state must be 0 (all) or more, got "
                               f"{self.pairs_per_state}")
        for key, value, allowed in (
            ("objective", self.objective, ACT_OBJECTIVES),
            ("advantage_group", self.advantage_group, ("pair", "prompt")),
            ("zero_variance", self.zero_variance, ("keep", "filter", "resample")),
            ("dpo_scope", self.dpo_scope, ("decision", "answer")),
        ):
            if value not in allowed:
                raise ActrainError(f"act.{key} must be one of {', '.join(allowed)}, got {value!r}")
        if self.reward and self.objective != "grpo":
            raise ActrainError(f"act.reward is a GRPO reward: act.objective {self.objective} "
                               f"trains on the labels")

    @property
    def order_paired(self) -> bool:
        """Whether both orders of a pair are trained in the same GRPO step (prompt groups)."""
        return self.advantage_group == "prompt" and self.both_orders and self.paired_batches


@dataclass
class RLConfig(GRPOStageConfig):
    """GRPO on next-action generation from expert states (the paper's RL stage)."""

    expert_reward: float = 1.0  # exactly the expert's action (after normalising)
    admissible_reward: float = 0.1  # a valid action that is not the expert's
    other_reward: float = 0.0  # a well-formed action the environment would not accept
    malformed_reward: float = -0.5  # no single <action> tag
    # Your own reward instead of the four above, "package.module:function" with TRL's
    # signature f(prompts, completions, **columns); columns: expert_action, admissible_actions
    reward: str = ""
    max_new_tokens: int = 16  # tokens a generated action may write
    num_generations: int = 4  # completions a GRPO group (G)


@dataclass
class ILConfig:
    """SFT on expert (state, action) pairs. `sft` holds any extra `trl.SFTConfig` fields."""

    epochs: float = 1.0  # passes over the stage's data
    max_steps: int = 0  # > 0 overrides epochs
    learning_rate: float = 2e-5  # peak learning rate (TRL's default schedule)
    batch_size: int = 8  # examples per optimizer step, over all processes
    save_steps: int = 0  # keep TRL checkpoints every N steps for resuming (0 = none)
    micro_batch: int = 0  # examples a device takes at once (0 = its whole share of the batch)
    sft: dict[str, Any] = field(default_factory=dict)  # extra trl.SFTConfig fields


@dataclass
class SRConfig(ILConfig):
    """Early Experience's self-reflection (Zhang et al. 2025): SFT on a teacher's rationale for
    the expert action, written after seeing where the expert action and the pair's alternative
    lead, mixed with the plain IL data."""

    teacher: str = "base"  # writes the rationales: the run's base model, or a model id / folder
    max_new_tokens: int = 64  # a rationale's length limit
    mix_il: bool = True  # also train on the plain expert actions (the paper's mixture)


@dataclass
class PeftConfig:
    """LoRA / QLoRA adapters for every training stage (ACT, IL, RL), through PEFT.

    Each stage trains a fresh adapter on the weights the previous stage left (its adapter merged
    in memory) and saves it; any later stage or evaluation loads a checkpoint folder either way.
    """

    enabled: bool = False  # train LoRA adapters instead of all weights
    r: int = 16  # adapter rank
    alpha: int = 32  # LoRA scaling numerator (scale = alpha / r)
    dropout: float = 0.05  # dropout on the adapter's input
    target_modules: list[str] = field(default_factory=lambda: ["all-linear"])  # modules adapted
    merge: bool = False  # also save full weights with the adapter merged in (adapter in adapter/)
    load_in_4bit: bool = False  # QLoRA: the frozen base in 4-bit NF4 (a CUDA GPU + bitsandbytes)

    def __post_init__(self) -> None:
        if self.r < 1 or self.alpha <= 0 or not 0 <= self.dropout < 1:
            raise ActrainError(f"peft: r must be >= 1, alpha > 0 and 0 <= dropout < 1, got "
                               f"r={self.r} alpha={self.alpha} dropout={self.dropout}")
