"""`actrain plan CONFIG`: what a run will cost, checked before it starts and without a GPU.

It builds every TRL config the run's training stages would get (so a wrong `act.grpo` key fails
now, not hours in), derives each stage's global and per-device batches for a number of GPUs, and
estimates tokens, GPU-hours and memory per GPU from first principles:

- training: 6 x params FLOPs per token trained, at `TRAIN_MFU` of the GPU's dense bf16 peak;
- generation: prefill at 2 x params FLOPs per token; decoding is bound by reading the weights
  once per generated token of a batch, so a decode step costs weight bytes / memory bandwidth;
- memory: 16 bytes a trained parameter, fp32 AdamW moments (8) plus fp32 weights and gradients
  on one GPU or DDP (loaded in fp32, bf16 from autocast: `models.training_weight_dtype`), or
  bf16 weights and gradients plus DeepSpeed's fp32 master copy under ZeRO-3 (FSDP2 upcasts to
  fp32 weights and gradients), sharded over the GPUs there; LoRA adapters likewise 16, 2 bytes a
  frozen parameter (0.5 in 4-bit); activations of one micro-batch with checkpointing; and vLLM's
  share when it is colocated.

These are estimates for planning; the assumptions are printed with them.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from actrain.config import RunConfig
from actrain.errors import ActrainError
from actrain.methods import is_act, method_stages, stage_config, stage_inputs
from actrain.stages.common import grpo_steps
from actrain.stages.trl_args import trl_args

TRAIN_MFU = 0.35  # share of peak a well-configured bf16 training step reaches
PREFILL_MFU = 0.5


@dataclass(frozen=True)
class Gpu:
    name: str
    bf16_flops: float  # dense peak
    memory_gib: float
    bandwidth: float  # bytes/s


GPUS = {
    "h100": Gpu("H100 80GB SXM", 989e12, 80, 3.35e12),
    "h200": Gpu("H200 141GB", 989e12, 141, 4.8e12),
    "a100": Gpu("A100 80GB SXM", 312e12, 80, 2.04e12),
    "l40s": Gpu("L40S 48GB", 362e12, 48, 0.864e12),
}


@dataclass(frozen=True)
class ModelShape:
    params: float
    hidden: int
    layers: int
    vocab: int


# Hub models the shipped configs name, for planning offline (parameters incl. embeddings).
KNOWN_MODELS = {
    "Qwen/Qwen3-8B": ModelShape(8.19e9, 4096, 36, 151936),
    "Qwen/Qwen3-4B": ModelShape(4.02e9, 2560, 36, 151936),
    "Qwen/Qwen3-1.7B": ModelShape(2.03e9, 2048, 28, 151936),
    "Qwen/Qwen3-0.6B": ModelShape(0.75e9, 1024, 28, 151936),
    "Qwen/Qwen2.5-7B-Instruct": ModelShape(7.62e9, 3584, 28, 152064),
    "meta-llama/Llama-3.1-8B-Instruct": ModelShape(8.03e9, 4096, 32, 128256),
}


def model_shape(name: str) -> ModelShape:
    """Parameters and sizes of `name`: a local or embedded model's config, else the table."""
    if name in KNOWN_MODELS:
        return KNOWN_MODELS[name]
    try:
        import torch
        from transformers import AutoConfig, AutoModelForCausalLM

        from actrain.models import resolve_model_path

        config = AutoConfig.from_pretrained(resolve_model_path(name))
        with torch.device("meta"):
            params = sum(p.numel() for p in AutoModelForCausalLM.from_config(config).parameters())
        return ModelShape(float(params), config.hidden_size, config.num_hidden_layers,
                          config.vocab_size)
    except (OSError, ValueError) as exc:
        raise ActrainError(f"cannot size model {name!r} offline ({exc.__class__.__name__}); "
                           f"known: {', '.join(KNOWN_MODELS)}") from None


@dataclass
class StagePlan:
    name: str
    steps: int
    rows: str  # what a step holds, in words
    per_device: str
    trained_tokens: float
    prefill_tokens: float
    decode_steps: float  # batched decoding steps (one weight read each)
    trained_params: float
    memory_gib: float
    note: str = ""

    def hours(self, shape: ModelShape, gpu: Gpu, gpus: int) -> float:
        train = 6 * shape.params * self.trained_tokens / (gpu.bf16_flops * TRAIN_MFU * gpus)
        prefill = 2 * shape.params * self.prefill_tokens / (gpu.bf16_flops * PREFILL_MFU * gpus)
        decode = self.decode_steps * 2 * shape.params / gpu.bandwidth
        return (train + prefill + decode) * gpus / 3600


def _lora_params(shape: ModelShape, r: int) -> float:
    # q, k, v, o and the three MLP projections of every layer, MLP about 3.5x hidden wide
    per_layer = r * (4 * 2 * shape.hidden + 3 * (shape.hidden + int(3.5 * shape.hidden)))
    return float(per_layer * shape.layers)


def _memory_gib(shape: ModelShape, config: RunConfig, micro_tokens: float, args: Any,
                gpus: int, sharded: bool) -> tuple[float, float]:
    """(GiB a GPU needs, trained parameters) for one training stage.

    A trained parameter costs 16 bytes wherever it is kept in mixed precision: weight and
    gradient 4 + 4 in fp32 (one GPU, DDP, FSDP2, LoRA adapters), or 2 + 2 in bf16 plus a 4-byte
    fp32 master (ZeRO-3), and AdamW's two fp32 moments 8."""
    peft = config.peft
    if peft.enabled:
        trained = _lora_params(shape, peft.r)
        weights = shape.params * (0.5 if peft.load_in_4bit else 2.0) + trained * 16
    else:
        trained = shape.params
        weights = shape.params * 16 / (gpus if sharded else 1)
    checkpointing = bool(getattr(args, "gradient_checkpointing", False))
    per_token_layer = 2 if checkpointing else 34  # bytes x hidden (Korthikanti et al. 2022)
    activations = micro_tokens * shape.hidden * shape.layers * per_token_layer
    logits = micro_tokens * shape.vocab * 4  # bf16 logits and their softmax
    return (weights + activations + logits) / 2**30, trained


def _vllm_share(args: Any, gpu: Gpu) -> float:
    if getattr(args, "use_vllm", False) and getattr(args, "vllm_mode", "") == "colocate":
        return float(getattr(args, "vllm_gpu_memory_utilization", 0.3)) * gpu.memory_gib
    return 0.0


def _states(config: RunConfig, steps_per_task: float) -> tuple[float, str]:
    """Training expert states: counted in the run folder if collected, else assumed."""
    from actrain.io import read_jsonl

    path = config.run_dir / "trajectories" / "train.jsonl"
    if path.exists():
        try:
            return float(sum(len(t["steps"]) for t in read_jsonl(path))), f"counted in {path}"
        except (KeyError, TypeError, ValueError, ActrainError):
            pass
    return config.data.train_tasks * steps_per_task, f"assumed {steps_per_task:g} a task"


def training_stages(config: RunConfig, methods: list[str]) -> list[str]:
    stages: list[str] = []
    for method in methods:
        for stage in method_stages(method):
            if stage not in stages:
                stages.append(stage)
    return stages


def plan_stage(stage: str, config: RunConfig, args: Any, shape: ModelShape, gpus: int,
               sharded: bool, prompt_tokens: float, states: float) -> StagePlan:
    per_device = f"{args.per_device_train_batch_size} x {args.gradient_accumulation_steps} acc."
    per_state = config.alternatives.per_state
    sft_examples = {  # SFT stages: examples in their data (one alternative a state per pair)
        "il": states,
        "sr": states * per_state + (states if config.sr.mix_il else 0),
        "iwm": 2 * states * per_state,
    }
    if stage in sft_examples:
        settings: Any = getattr(config, stage)
    else:
        settings = stage_config(config, stage) if is_act(stage) else config.rl
    if stage in sft_examples or (is_act(stage) and settings.objective != "grpo"):
        batch = settings.batch_size  # IL, SR, IWM, and ACT's SFT / DPO: examples a step
        examples = sft_examples.get(stage, 2 * states * per_state)
        steps = settings.max_steps or math.ceil(settings.epochs * examples / batch)
        # an action; a rationale and an action; an observation
        completion = {"sr": config.sr.max_new_tokens + 16, "iwm": 64}.get(stage, 16)
        pairs_per_example = 2 if is_act(stage) and settings.objective == "dpo" else 1
        trained = steps * batch * (prompt_tokens + completion) * pairs_per_example
        micro = args.per_device_train_batch_size * (prompt_tokens + completion)
        memory, params = _memory_gib(shape, config, micro * pairs_per_example, args, gpus,
                                     sharded)
        return StagePlan(stage, steps, f"{batch} examples", per_device, trained, 0, 0, params,
                         memory)
    completion = config.critic.max_new_tokens if is_act(stage) else config.rl.max_new_tokens
    rows = settings.prompts_per_step * settings.num_generations
    if is_act(stage):  # a dataset row: a pair (pair groups), or a shown order of one
        twice = settings.advantage_group == "prompt" and settings.both_orders
        data_rows = states * per_state * (2 if twice else 1)
    else:
        data_rows = states
    steps = grpo_steps(settings, math.ceil(data_rows))
    share = rows / gpus  # completions a GPU generates each step, in one batch
    trained = steps * rows * (prompt_tokens + completion)
    micro = args.per_device_train_batch_size * (prompt_tokens + completion)
    memory, params = _memory_gib(shape, config, micro, args, gpus, sharded)
    note = f"{share:.0f} completions a GPU a step"
    return StagePlan(stage, steps, f"{settings.prompts_per_step} prompts x "
                     f"{settings.num_generations} samples", per_device, trained,
                     steps * rows * prompt_tokens, steps * completion, params, memory, note)


def plan(config: RunConfig, methods: list[str], seeds: list[int], gpu_name: str, gpus: int,
         sharded: bool, steps_per_task: float, prompt_tokens: float | None) -> str:
    """The plan as text: assumptions, one row per training stage, evaluation, totals."""
    import tempfile

    from actrain.stages import common

    if gpu_name not in GPUS:
        raise ActrainError(f"unknown GPU {gpu_name!r}: use {', '.join(GPUS)}")
    if gpus < 1:
        raise ActrainError(f"--gpus must be >= 1, got {gpus}")
    gpu = GPUS[gpu_name]
    shape = model_shape(config.model)
    history = config.data.history_len
    prompt = prompt_tokens or 300 + 120 * history
    states, counted = _states(config, steps_per_task)
    lines = [
        f"plan for {config.name}: model {config.model} ({shape.params / 1e9:.2f}B parameters), "
        f"{gpus} x {gpu.name}{', ZeRO-3/FSDP sharded' if sharded else ''}",
        f"methods {', '.join(methods)}; seeds {', '.join(map(str, seeds))}",
        f"{states:.0f} training expert states ({counted}); assumed {prompt:.0f} tokens a "
        f"prompt{' (given)' if prompt_tokens else ' (300 + 120 a history step)'}, "
        f"completions at their max_new_tokens; training at {TRAIN_MFU:.0%} MFU, prefill at "
        f"{PREFILL_MFU:.0%}, decoding bound by memory bandwidth",
        "",
        "| stage | steps | a step (global) | a GPU: micro-batch x accumulation | trained tokens "
        "| GPU-hours a seed | memory a GPU (GiB) | |",
        "|---|---|---|---|---|---|---|---|",
    ]
    total = 0.0
    with tempfile.TemporaryDirectory() as tmp, common.planned_world(gpus):
        cpu_config = dataclasses.replace(config, device="cpu")  # build TRL configs on this host
        for stage in training_stages(config, methods):
            args = trl_args(stage_inputs(cpu_config, stage), stage, tmp)
            row = plan_stage(stage, config, args, shape, gpus, sharded, prompt, states)
            memory = row.memory_gib + _vllm_share(args, gpu)
            fits = "fits" if memory <= gpu.memory_gib else "DOES NOT FIT"
            hours = row.hours(shape, gpu, gpus)
            uses = sum(stage in method_stages(m) for m in methods)
            total += hours * len(seeds) * uses
            lines.append(
                f"| {stage} | {row.steps} | {row.rows} | {row.per_device} | "
                f"{row.trained_tokens:.3g} | {hours:.1f} | {memory:.0f} | {fits}"
                f"{'; ' + row.note if row.note else ''} |"
            )
    evaluation = _evaluation_hours(config, methods, seeds, shape, gpu, gpus, prompt, states)
    lines += ["", *evaluation[1], "", *_disk_and_host(config, shape, gpus), "",
              f"total: about {total + evaluation[0]:.0f} GPU-hours on {gpu.name} "
              f"(training {total:.0f}, data and evaluation {evaluation[0]:.0f})"]
    return "\n".join(lines)


# Host memory of one environment instance, for the environments that run on a JVM.
JVM_GIB = {"scienceworld": 1.5, "twx": 0.08}


def _disk_and_host(config: RunConfig, shape: ModelShape, gpus: int) -> list[str]:
    """What the run keeps on disk and in host memory, which no GPU figure shows."""
    weights = shape.params * 2 / 1e9  # bf16
    trained = _lora_params(shape, config.peft.r) if config.peft.enabled else shape.params
    resumable = weights + trained * 12 / 1e9  # + fp32 master and two AdamW moments
    lines = [f"disk: each stage's checkpoint {weights:.1f} GB (bf16); its resumable TRL "
             f"checkpoint, while it trains, about {resumable:.0f} GB (weights, fp32 master and "
             "optimizer state; one kept a stage)"]
    jvm = JVM_GIB.get(config.env.id.split("/")[0], 0.0)
    if jvm:
        per_gpu = max(config.rollout.parallel_envs or config.rollout.batch_size, 1)
        node = min(gpus, 8)
        lines.append(
            f"host memory for environments: {per_gpu} instances a process x {node} processes a "
            f"node x {jvm} GB = {per_gpu * node * jvm:.0f} GB during rollouts; expert "
            f"collection runs data.collect_workers ({config.data.collect_workers}) a node")
    return lines


def _evaluation_hours(config: RunConfig, methods: list[str], seeds: list[int],
                      shape: ModelShape, gpu: Gpu, gpus: int, prompt: float,
                      states: float) -> tuple[float, list[str]]:
    def hours(prefill_tokens: float, decode_steps: float) -> float:
        prefill = 2 * shape.params * prefill_tokens / (gpu.bf16_flops * PREFILL_MFU * gpus)
        return (prefill + decode_steps * 2 * shape.params / gpu.bandwidth) * gpus / 3600

    alt = config.alternatives
    batch = max(1, config.eval.batch_size)
    if alt.mode == "sample":
        samples = states * alt.samples_per_state
        pairs_h = hours(samples * prompt, math.ceil(samples / (batch * gpus)) * alt.max_new_tokens)
    else:
        pairs_h = hours(states * prompt * 2, 0)
    critics = 1 + sum(any(is_act(s) for s in method_stages(m)) for m in methods) * len(seeds)
    eval_pairs = 2 * config.data.eval_tasks * 10 * alt.per_state
    critic_h = critics * hours(eval_pairs * prompt, math.ceil(eval_pairs / (batch * gpus))
                               * config.critic.max_new_tokens)
    stages = {s for m in methods for s in method_stages(m)}
    rationales = states * alt.per_state if "sr" in stages else 0
    rationale_h = hours(rationales * prompt * 1.5, math.ceil(rationales / (batch * gpus))
                        * config.sr.max_new_tokens)
    r = config.rollout
    agents = len(methods) * len(seeds) if r.enabled else 0
    turns = len(r.splits) * r.episodes * r.max_steps
    rounds = math.ceil(len(r.splits) * r.episodes / (max(1, r.batch_size) * gpus)) * r.max_steps
    agent_h = agents * hours(turns * prompt, rounds * r.max_new_tokens)
    lines = [
        f"pairs (alternatives, {alt.mode}): {pairs_h:.1f} GPU-hours",
        f"critic evaluations ({critics} checkpoints x ~{eval_pairs:.0f} prompts): "
        f"{critic_h:.1f} GPU-hours",
        f"agent rollouts ({agents} agents x {turns} turns at most): {agent_h:.1f} GPU-hours",
    ]
    if rationales:
        lines.insert(1, f"self-reflection rationales ({rationales:.0f}, greedy): "
                        f"{rationale_h:.1f} GPU-hours")
    return pairs_h + critic_h + agent_h + rationale_h, lines
