"""Run configuration: dataclasses loaded from YAML, with `key.sub=value` command-line overrides.

The ACT stage passes its `grpo:` mapping straight to TRL's `GRPOConfig`, so every TRL option is
available without actrain re-declaring it; actrain only sets CPU-friendly defaults.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from actrain.config.loading import build, merge, parse_overrides, yaml_problem
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


ALTERNATIVE_MODES = ("sample", "admissible")
ALTERNATIVE_RULES = ("first_valid", "paper")
ALTERNATIVE_KINDS = ("any", "same", "prefer_same")


@dataclass(frozen=True)
class AlternativeConfig:
    mode: str = "sample"  # sample: the policy writes K actions; admissible: drawn from its scores
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
    # Which admissible actions may be alternatives (mode admissible). any: all of them; same:
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
        if self.kind != "any" and self.mode != "admissible":
            raise ActrainError(f"alternatives.kind {self.kind} chooses among the admissible "
                               f"actions: it needs alternatives.mode admissible")
        if self.rule == "paper" and (self.mode != "sample" or self.per_state != 1):
            raise ActrainError("alternatives.rule paper samples one alternative a state: it needs "
                               "alternatives.mode sample and alternatives.per_state 1")


@dataclass
class HardSetConfig:
    """The hard critic set (data/hard_pairs.py): held-out pairs whose alternative is the same
    kind of action as the expert's (`put X in Y` against `put X in Z`) and verified worse by the
    environment, where the first-word rule is at chance. Every critic evaluation is also run on
    it, and it is the headline critic figure of a report."""

    tasks: int = 100  # held-out tasks whose expert states are searched (0 = no hard set)
    split: str = "id_test"  # the split they come from (never the training split)
    per_state: int = 1  # verified same-kind alternatives kept a state
    max_checks: int = 8  # same-kind candidates verified at most a state (each a replay)

    def __post_init__(self) -> None:
        if self.tasks < 0 or self.per_state < 1 or self.max_checks < 1:
            raise ActrainError(f"hard_set: tasks must be >= 0, per_state and max_checks >= 1, "
                               f"got tasks={self.tasks} per_state={self.per_state} "
                               f"max_checks={self.max_checks}")
        if self.split == "train":
            raise ActrainError("hard_set.split must be a held-out split (id_test or ood_test): "
                               "the critic trains on the train split")


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
    # Direct choice with 1-token answers: sample and score each distinct prompt once, not G times.
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
class RolloutConfig:
    """Agent evaluation: the protocol is printed in every report."""

    splits: list[str] = field(default_factory=lambda: ["id_test", "ood_test"])  # splits played
    # tasks per split (the first N of the split, a fixed list); 0 plays none: the agent is
    # measured on its next actions alone (`next_action_states`)
    episodes: int = 16
    max_steps: int = 20  # an episode that reaches it unfinished is a failure
    # Per-task limits, keyed by the task id before its last ":" (ScienceWorld: the task name).
    max_steps_by_task: dict[str, int] = field(default_factory=dict)
    temperature: float = 0.0  # greedy; > 0 samples, seeded by the run's seed
    # Nucleus and top-k sampling with temperature > 0 (1.0 / 0 = off); thinking models come
    # with recommended values (Qwen3: temperature 0.6, top_p 0.95, top_k 20, never greedy)
    top_p: float = 1.0  # nucleus sampling of each turn (with temperature > 0)
    top_k: int = 0  # sample among the k likeliest tokens (0 = all; with temperature > 0)
    max_new_tokens: int = 16  # tokens an action may write a turn
    # Methods rolled out reasoning first (`prompt-cot`, any method ending in `-cot`) write up to
    # this many tokens a turn instead: reasoning, then the action tag.
    thinking_max_new_tokens: int = 128
    batch_size: int = 16  # episodes whose next action is generated in one batch
    # Environment instances in play at once, on every process (0 = batch_size); a JVM-backed
    # environment holds one JVM each: `actrain plan` counts the host memory they take
    parallel_envs: int = 0
    step_workers: int = 1  # threads stepping those environments (for slow, JVM-backed envs)
    enabled: bool = True  # false: no agent evaluation (critic-only runs)
    # Held-out expert states a split on which every agent's next action is compared with the
    # expert's (the primary agent metric): expert paths of the split's tasks, in its task order,
    # until at least this many states are gathered (0 = off: the eval_tasks games only)
    next_action_states: int = 500

    def __post_init__(self) -> None:
        _check_sampling("rollout", self.temperature, self.top_p, self.top_k)
        limits = self.max_steps_by_task
        if not isinstance(limits, dict) or not all(
            isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in limits.values()
        ):
            raise ActrainError(
                f"rollout.max_steps_by_task must map task names to positive integers, "
                f"got {limits!r}"
            )


@dataclass
class CompareConfig:
    """`actrain compare`: several pipelines x seeds on the same trajectories and pairs."""

    # Pipelines to compare (`pipeline` spellings; "prompt" is the untrained model; a "-cot" or
    # "-direct" suffix rolls the agent out reasoning first or acting at once)
    methods: list[str] = field(default_factory=lambda: ["prompt", "il", "act_il"])
    seeds: list[int] = field(default_factory=lambda: [0, 1])  # training seeds of every method


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


GENERATION_BACKENDS = ("hf", "vllm")


@dataclass
class GenerationConfig:
    """The engine for generation outside training: alternatives, critic evaluation, rollouts.

    GRPO stages generate through TRL: its vLLM modes are `act.grpo` / `rl.grpo` keys
    (`use_vllm: true`, `vllm_mode: colocate | server`).
    """

    backend: str = "hf"  # hf: transformers' generate (CPU or GPU); vllm: vLLM's offline engine
    gpu_memory_utilization: float = 0.85  # vLLM's share of the GPU
    max_model_len: int = 0  # vLLM context limit (0 = the model's)

    def __post_init__(self) -> None:
        if self.backend not in GENERATION_BACKENDS:
            raise ActrainError(f"generation.backend must be one of "
                               f"{', '.join(GENERATION_BACKENDS)}, got {self.backend!r}")


@dataclass
class EvalConfig:
    """Held-out critic evaluation (the judgment task); the rationale study decodes with it too."""

    temperature: float = 0.0  # greedy by default: the critic's own best answer
    top_p: float = 1.0  # nucleus sampling with temperature > 0 (1.0 = off)
    top_k: int = 0  # sample among the k likeliest tokens with temperature > 0 (0 = all)
    # Sampled evaluations (temperature > 0) judged this many times, seeds seed, seed + 1, ...:
    # the metrics are their mean, each with its std beside it (greedy ones would all agree)
    samples: int = 1
    batch_size: int = 16  # prompts judged in one generation batch
    max_pairs: int = 0  # 0 = all held-out pairs

    def __post_init__(self) -> None:
        _check_sampling("eval", self.temperature, self.top_p, self.top_k)
        if self.samples < 1:
            raise ActrainError(f"eval.samples must be at least 1, got {self.samples}")
        if self.samples > 1 and self.temperature == 0:
            raise ActrainError(f"eval.samples {self.samples} repeats a greedy evaluation "
                               f"(eval.temperature 0) that gives the same answers every time: "
                               f"set eval.temperature > 0 or eval.samples 1")


def _check_sampling(section: str, temperature: float, top_p: float, top_k: int) -> None:
    """One clear error for a decoding setting the engines would reject or misread."""
    if temperature < 0:
        raise ActrainError(f"{section}.temperature must be 0 (greedy) or more, got {temperature}")
    if not 0 < top_p <= 1:
        raise ActrainError(f"{section}.top_p must be in (0, 1], got {top_p}")
    if top_k < 0:
        raise ActrainError(f"{section}.top_k must be 0 (off) or more, got {top_k}")


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
