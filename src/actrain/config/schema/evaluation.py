"""The sections of measurement: held-out critic evaluation (`eval`), the hard critic set
(`hard_set`), the agent rollout protocol (`rollout`), `actrain compare`'s grid (`compare`) and
the engine that generates outside training (`generation`).

None of them changes what is trained, only how it is measured; their decoding settings share
one check (`_check_sampling`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from actrain.errors import ActrainError


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


GENERATION_BACKENDS = ("hf", "vllm", "auto")


@dataclass
class GenerationConfig:
    """The engine for generation outside training: alternatives, critic evaluation, rollouts.

    GRPO stages generate through TRL: its vLLM modes are `act.grpo` / `rl.grpo` keys
    (`use_vllm: true`, `vllm_mode: colocate | server`).
    """

    # hf: transformers' generate (CPU or GPU); vllm: vLLM's offline engine; auto: vllm on a CUDA
    # GPU where vLLM is installed, else hf (on CPUs vLLM's CPU build samples 1.4x faster but
    # scores actions 5.5x slower, benchmarks/vllm_throughput.py)
    backend: str = "hf"
    gpu_memory_utilization: float = 0.85  # vLLM's share of the GPU
    max_model_len: int = 0  # vLLM context limit (0 = the model's)

    def __post_init__(self) -> None:
        if self.backend not in GENERATION_BACKENDS:
            raise ActrainError(f"generation.backend must be one of "
                               f"{', '.join(GENERATION_BACKENDS)}, got {self.backend!r}")
