"""The sections that say what data a run is made of: the environment and its expert
trajectories (`env`, `data`), how each state's alternative action is drawn (`alternatives`),
and how the judgment task shows a pair to the critic (`critic`).

They sit apart from the training and evaluation sections because the data steps
(collect, pairs) and the prompts read them alone, before any stage is trained.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from actrain.errors import ActrainError

IL_THINKING = ("empty", "none")  # what an IL target writes before its action (prompts.py)


@dataclass
class EnvConfig:
    id: str = "twx/twc"  # a registered environment id (`actrain envs` lists them)
    kwargs: dict[str, Any] = field(default_factory=dict)  # passed to the adapter's constructor
    # Your own environment, "package.module:Class" (a TextEnv subclass), registered as `id`
    entry_point: str = ""


@dataclass
class DataConfig:
    train_tasks: int = 40  # training tasks whose expert trajectories make the IL data and pairs
    eval_tasks: int = 10  # id_test tasks whose states make the held-out critic pairs
    history_len: int = 1  # (observation, action) pairs shown before the current observation
    show_admissible: bool = True  # list admissible actions in the actor prompt
    # The agent reasons before its <action> tag (IL, RL and rollouts). Off, the tag is prefilled
    # and the agent writes only the action: 135M models do not keep a reason-then-tag format.
    actor_reasoning: bool = False
    # With actor_reasoning, what IL targets write before the action where the prompt leaves a
    # thinking model (a template with <think>, e.g. Qwen3) free to think. empty: the
    # rationale-free <think></think> block the template itself writes with thinking off, so the
    # model keeps its format instead of learning to drop the block; none: the action tag alone.
    # Templates without thinking, and prompts that already hold the block: no change.
    il_thinking: str = "empty"
    # Environments collecting expert trajectories at once on one machine (its processes split them)
    collect_workers: int = 1
    # "expert": states on the expert's path; "oracle": states visited by a policy that follows
    # the environment's oracle but explores with probability `explore` (envs with an oracle).
    source: str = "expert"
    explore: float = 0.3  # with source "oracle": the chance of a random admissible action a step

    def __post_init__(self) -> None:
        if self.il_thinking not in IL_THINKING:
            raise ActrainError(f"data.il_thinking must be one of {', '.join(IL_THINKING)}, "
                               f"got {self.il_thinking!r}")


ALTERNATIVE_MODES = ("sample", "admissible", "random")
ALTERNATIVE_RULES = ("first_valid", "paper")
ALTERNATIVE_KINDS = ("any", "same", "prefer_same")


@dataclass(frozen=True)
class AlternativeConfig:
    # sample: the policy writes K actions; admissible: drawn from its scores of the admissible
    # actions; random: drawn uniformly from the admissible actions (no model: the hard set's draw,
    # the cheapest, for pairs that `kind: same` and `verify` make hard, as the demo's are)
    mode: str = "sample"
    policy: str = "base"  # the proposing policy: the run's base model, or a model id / folder
    samples_per_state: int = 4  # K candidates sampled per state
    # Which states get an alternative. first_valid: the first valid of the K samples (an easy
    # state, where the policy mostly writes the expert's action, is still kept unless all K
    # are). paper: one sample per state, and the state is dropped when it equals the expert's
    # action (samples_per_state is then not used). pairs/stats.json gives the states kept.
    rule: str = "first_valid"
    per_state: int = 1  # alternatives kept per state (the paper uses 1)
    admissible_only: bool = True  # keep only alternatives the environment would accept
    random_fallback: bool = True  # no valid sample: draw a random admissible action instead
    max_new_tokens: int = 16  # tokens a sampled alternative may write
    temperature: float = 0.7  # pure sampling (1.0, no top-p) from a 135M model is mostly noise
    top_p: float = 0.95  # nucleus sampling of the alternatives
    top_k: int = 0  # top-k sampling of the alternatives (0 = off; Qwen3 thinking: 20)
    reasoning: bool = False  # let the actor reason before its <action> tag
    # Which admissible actions may be alternatives (modes admissible, random). any: all; same:
    # only those of the expert action's kind (its first word: `put X in Y` against `put X in
    # Z`), a state without one gets no pair; prefer_same: those where a state has any, else all.
    # Pairs of the same kind cannot be told apart by which kinds of action experts take.
    kind: str = "any"
    # Keep a pair only if the environment shows the alternative worse than the expert's action:
    # a longer oracle plan (textworld/cooking, alfworld/text), or elsewhere a worse outcome of
    # the expert's remaining plan played after it (data/verify.py).
    verify: bool = False
    # Reuse pairs another model sampled (a run folder or pairs file) instead of sampling here;
    # the other keys of this section are then not used (data/reused_pairs.py).
    pairs_from: str = ""
    # A share of the states that also get one usual pair: an alternative of any kind, drawn the
    # same way and not verified. Pairs of one kind alone teach that kind and let the critic fall
    # back on a position elsewhere; the usual pairs keep what they teach (no stalling, the right
    # kind of action) beside the judgment `kind: same` and `verify` train (0 = none).
    usual_share: float = 0.0

    def __post_init__(self) -> None:
        if self.mode not in ALTERNATIVE_MODES:
            raise ActrainError(f"alternatives.mode must be one of {', '.join(ALTERNATIVE_MODES)}"
                               f", got {self.mode!r}")
        if self.rule not in ALTERNATIVE_RULES:
            raise ActrainError(f"alternatives.rule must be one of {', '.join(ALTERNATIVE_RULES)}"
                               f", got {self.rule!r}")
        if self.kind not in ALTERNATIVE_KINDS:
            raise ActrainError(f"alternatives.kind must be one of {', '.join(ALTERNATIVE_KINDS)}"
                               f", got {self.kind!r}")
        if self.kind != "any" and self.mode == "sample":
            raise ActrainError(f"alternatives.kind {self.kind} chooses among the admissible "
                               f"actions: it needs alternatives.mode admissible or random")
        if not 0.0 <= self.usual_share <= 1.0:
            raise ActrainError(f"alternatives.usual_share is a share of the states, between 0 "
                               f"and 1, got {self.usual_share}")
        if self.rule == "paper" and (self.mode != "sample" or self.per_state != 1):
            raise ActrainError("alternatives.rule paper samples one alternative a state: it needs "
                               "alternatives.mode sample and alternatives.per_state 1")


@dataclass
class CriticConfig:
    """How the judgment task is posed; shared by ACT training and critic evaluation."""

    reasoning: bool = False  # False prefills the answer's tag: the paper's direct-choice ablation
    answer_format: str = "index"  # "index" (<answer>1</answer>) or "action" (<action>text</action>)
    max_new_tokens: int = 8  # tokens a judgment may write (with reasoning: the whole reasoning)
    show_admissible: bool = False  # list the admissible actions in the critic prompt too
    # Show the surroundings and inventory (`TextEnv.context()`, where the environment has them):
    # "You take the shirt." alone does not say which of two actions is better.
    show_context: bool = False
    # Actions shown at once (K-way choice, beyond the paper's 2): the expert's and K - 1
    # alternatives of the same state (needs alternatives.per_state >= K - 1; data/kway.py).
    candidates: int = 2

    def __post_init__(self) -> None:
        if self.candidates < 2 or self.candidates > 9:
            raise ActrainError(f"critic.candidates must be between 2 and 9 (a one-digit "
                               f"answer), got {self.candidates}")
        if self.answer_format not in ("index", "action"):
            raise ActrainError(f"critic.answer_format must be index or action, got "
                               f"{self.answer_format!r}")
        if self.answer_format == "action" and self.max_new_tokens < 4:
            raise ActrainError(f"critic.answer_format action writes the action's text and "
                               f"</action>: critic.max_new_tokens {self.max_new_tokens} cannot "
                               f"hold it (at least 4, more for long actions)")
