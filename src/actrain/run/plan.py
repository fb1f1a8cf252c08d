"""`actrain plan CONFIG`: what a run will cost, checked before it starts and without a GPU.

It builds every TRL config the run's training stages would get (so a wrong `act.grpo` key fails
now, not hours in), derives each stage's global and per-device batches for a number of GPUs, and
estimates tokens, GPU-hours and memory per GPU from first principles. The figures are meant to
be what a run costs, not a lower bound, so they charge what the trainers really do:

- training: 6 x params FLOPs a trained token for forward and backward, +2 x params for the
  forward that gradient checkpointing recomputes, and, in GRPO, +2 x params for each extra
  forward TRL runs without gradients (the old policy's log-probabilities, which TRL always
  computes with vLLM's importance-sampling correction on, its default; the reference model's
  when `beta` > 0), all at `TRAIN_MFU` of the GPU's dense bf16 peak;
- generation: prefill at 2 x params FLOPs a token; a decoding step reads the weights once and
  the KV cache of every sequence of the batch (2 x KV heads x head size x 2 bytes x layers a
  token of context), at `DECODE_BANDWIDTH` of peak memory bandwidth with vLLM and
  `HF_DECODE_BANDWIDTH` with Hugging Face `generate` on the training model;
- GRPO with vLLM: the weights pushed into the engine before each generation, parameter by
  parameter, at `SYNC_BYTES_PER_S`;
- ACT with pair groups and `act.zero_variance: resample`: `FLAT_GROUP_SHARE` of the groups come
  out flat; every try is one generation call all processes make while any group of the step is
  still flat, so a try costs a full-length decode however few groups it replaces;
- ACT's critic curve (`act.eval_every`): the held-out pairs judged with `generate` on the
  training model every `eval_every` steps;
- memory: 16 bytes a trained parameter, fp32 AdamW moments (8) plus fp32 weights and gradients
  on one GPU or DDP (loaded in fp32, bf16 from autocast: `models.training_weight_dtype`), or
  bf16 weights and gradients plus DeepSpeed's fp32 master copy under ZeRO-3 (FSDP2 upcasts to
  fp32 weights and gradients), sharded over the GPUs there; LoRA adapters likewise 16, 2 bytes a
  frozen parameter (0.5 in 4-bit); then the larger of a training micro-batch's activations
  (with checkpointing) and logits, or the critic curve's generation (the whole model gathered
  in bf16 under ZeRO-3, and the KV cache of one evaluation batch); and vLLM's share when it is
  colocated. The base model the pipeline caches for generation is freed before a stage trains
  (`Pipeline.release_generators`), so it is not counted.

These are estimates for planning; every assumption is printed with them. The cost model (GPUs,
model shapes, FLOPs, decoding, memory) is `run/plan_costs.py`; this module lays out the stages.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from actrain.config.schema import RunConfig
from actrain.errors import ActrainError
from actrain.run.plan_costs import (
    DECODE_BANDWIDTH,
    FLAT_GROUP_SHARE,
    GPUS,
    HF_DECODE_BANDWIDTH,
    PREFILL_MFU,
    SYNC_BYTES_PER_S,
    TRAIN_MFU,
    Gpu,
    ModelShape,
    decode_seconds,
    lora_params,
    memory_gib,
    model_shape,
    prefill_seconds,
    train_flops,
    vllm_share,
)
from actrain.runtime.run_folder import RunFolder
from actrain.stages import registry
from actrain.stages.common import grpo_steps
from actrain.stages.inputs import is_act, method_stages, stage_inputs
from actrain.stages.registry import PlanWork
from actrain.stages.trl_args import trl_args


@dataclass
class StagePlan:
    name: str
    steps: int
    rows: str  # what a step holds, in words
    per_device: str
    trained_tokens: float
    trained_params: float
    memory_gib: float
    note: str = ""
    flops_per_token: float = 6.0  # x params, see `train_flops`
    seconds: dict[str, float] = field(default_factory=dict)  # generation etc., wall clock
    details: dict[str, str] = field(default_factory=dict)  # how each part was counted

    def breakdown(self, shape: ModelShape, gpu: Gpu, gpus: int) -> dict[str, float]:
        """Wall-clock seconds of each part of the stage, training first."""
        train = (self.flops_per_token * shape.params * self.trained_tokens
                 / (gpu.bf16_flops * TRAIN_MFU * gpus))
        return {"training": train, **self.seconds}

    def hours(self, shape: ModelShape, gpu: Gpu, gpus: int) -> float:
        return sum(self.breakdown(shape, gpu, gpus).values()) * gpus / 3600

    def explain(self, shape: ModelShape, gpu: Gpu, gpus: int) -> str:
        """GPU-hours a seed of each part, with how it was counted: the row's figure, opened."""
        return f"{self.name} GPU-hours a seed: " + ", ".join(
            f"{name} {s * gpus / 3600:.1f}"
            + (f" ({self.details[name]})" if name in self.details else "")
            for name, s in self.breakdown(shape, gpu, gpus).items())


def _states(config: RunConfig, steps_per_task: float) -> tuple[float, str]:
    """Training expert states: counted in the run folder if collected, else assumed."""
    from actrain.runtime.io import read_trajectories

    path = RunFolder(config.run_dir).train_traj
    if path.exists():
        try:
            return float(sum(len(t.steps) for t in read_trajectories(path))), f"counted in {path}"
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


def _heldout_prompts(config: RunConfig) -> float:
    """Held-out critic prompts: ~10 states an evaluation task, each pair in both orders."""
    prompts = 2 * config.data.eval_tasks * 10 * config.alternatives.per_state
    return float(min(prompts, config.eval.max_pairs) if config.eval.max_pairs else prompts)


def _critic_curve(config: RunConfig, steps: int, args: Any, shape: ModelShape, gpu: Gpu,
                  gpus: int, sharded: bool, prompt: float) -> tuple[float, float, str]:
    """(wall-clock seconds, GiB at its peak, what it counts) of ACT's held-out critic curve.

    Every `act.eval_every` steps the trainer stops and judges the held-out pairs with
    Hugging Face `generate` on its own model, split over the processes; under ZeRO-3 the whole
    model is first gathered in bf16 on every GPU (`ds3_gather_for_generation`)."""
    every = config.act.eval_every
    if not every or steps < every:
        return 0.0, 0.0, ""
    evaluations = steps // every
    prompts = _heldout_prompts(config)
    share = math.ceil(prompts / gpus)
    batch = min(max(1, config.eval.batch_size), share)
    new = config.critic.max_new_tokens
    one = (prefill_seconds(shape, gpu, prompts * prompt, gpus)
           + math.ceil(share / batch) * decode_seconds(shape, gpu, new, batch, prompt + new / 2,
                                                       HF_DECODE_BANDWIDTH))
    gathered = bool(sharded and not config.peft.enabled
                    and getattr(args, "ds3_gather_for_generation", True))
    memory = 2 * shape.params * gathered + batch * (prompt + new) * shape.kv_bytes_per_token
    return (evaluations * one, memory / 2**30,
            f"{evaluations} x {prompts:.0f} held-out prompts, {batch} a batch")


def _resample_rounds(groups: float, tries: int, gpus: int,
                     share: float = FLAT_GROUP_SHARE) -> list[tuple[float, int]]:
    """(chance the try runs, flat groups on the busiest process) for each resampling try.

    A try is one generation call every process makes while any group of the step is still
    flat (`PairGroupRollout._resample`); a group drawn k times is still flat with chance
    share**k."""
    rounds = []
    for k in range(1, tries + 1):
        flat = share**k
        rounds.append((1 - (1 - flat) ** groups, max(1, math.ceil(groups * flat / gpus))))
    return rounds


def plan_stage(stage: str, config: RunConfig, args: Any, shape: ModelShape, gpu: Gpu,
               gpus: int, sharded: bool, prompt_tokens: float, states: float) -> StagePlan:
    """A stage's row, from what its module says it trains on (`Stage.plan`)."""
    work = registry.get(stage).plan(config, stage, states)
    flops, parts = train_flops(args, work.grpo)
    details = {"training": f"{flops:g} x params FLOPs a token: {', '.join(parts)}"}
    per_device = f"{args.per_device_train_batch_size} x {args.gradient_accumulation_steps} acc."
    if not work.grpo:
        return _supervised_row(stage, config, args, shape, gpu, gpus, sharded, prompt_tokens,
                               work, flops, details, per_device)
    return _grpo_row(stage, config, args, shape, gpu, gpus, sharded, prompt_tokens, work,
                     flops, details, per_device)


def _supervised_row(stage: str, config: RunConfig, args: Any, shape: ModelShape, gpu: Gpu,
                    gpus: int, sharded: bool, prompt_tokens: float, work: PlanWork,
                    flops: float, details: dict[str, str], per_device: str) -> StagePlan:
    """IL, SR, IWM, and ACT's SFT / DPO: `work.rows` examples, `batch_size` a step."""
    settings, seconds = work.settings, {}
    batch = settings.batch_size
    steps = settings.max_steps or math.ceil(settings.epochs * work.rows / batch)
    trained = steps * batch * (prompt_tokens + work.completion) * work.pairs_per_example
    micro = args.per_device_train_batch_size * (prompt_tokens + work.completion)
    curve = (_critic_curve(config, steps, args, shape, gpu, gpus, sharded, prompt_tokens)
             if work.critic_curve else (0.0, 0.0, ""))
    if curve[0]:
        seconds["critic curve"] = curve[0]
        details["critic curve"] = f"{curve[2]}, HF generate"
    memory, params = memory_gib(shape, config, micro * work.pairs_per_example, args, gpus,
                                sharded, curve[1])
    return StagePlan(stage, steps, f"{batch} examples", per_device, trained, params, memory,
                     flops_per_token=flops, seconds=seconds, details=details)


def _grpo_row(stage: str, config: RunConfig, args: Any, shape: ModelShape, gpu: Gpu,
              gpus: int, sharded: bool, prompt_tokens: float, work: PlanWork, flops: float,
              details: dict[str, str], per_device: str) -> StagePlan:
    """ACT's GRPO and RL: `num_generations` samples of `work.rows` prompts, generated in calls
    of `steps_per_generation` micro-batches."""
    settings, completion, seconds = work.settings, work.completion, {}
    rows = settings.prompts_per_step * settings.num_generations
    steps = grpo_steps(settings, math.ceil(work.rows))
    trained = steps * rows * (prompt_tokens + completion)
    micro = args.per_device_train_batch_size * (prompt_tokens + completion)
    # TRL generates once every steps_per_generation x num_iterations micro-batches, for
    # steps_per_generation of them at once
    per_call = (getattr(args, "steps_per_generation", None)
                or args.gradient_accumulation_steps)
    calls = steps * args.gradient_accumulation_steps / (per_call
                                                         * getattr(args, "num_iterations", 1))
    batch = args.per_device_train_batch_size * per_call  # completions a GPU a generation call
    context = prompt_tokens + completion / 2
    seconds["prefill"] = prefill_seconds(shape, gpu, calls * batch * gpus * prompt_tokens, gpus)
    seconds["decode"] = calls * decode_seconds(shape, gpu, completion, batch, context)
    details["decode"] = f"{batch} sequences a GPU, ~{context:.0f} tokens of context"
    if getattr(args, "use_vllm", False):
        syncs = min(calls, steps)  # at most once an optimizer step
        seconds["weight sync"] = syncs * 2 * shape.params / SYNC_BYTES_PER_S
        details["weight sync"] = f"{syncs:.0f} x {2 * shape.params / SYNC_BYTES_PER_S:.1f} s"
    if work.pair_groups:
        groups = batch * gpus / settings.num_generations
        tries = _resample_rounds(groups, settings.resample_tries, gpus)
        seconds["resampling"] = calls * sum(
            p * (prefill_seconds(shape, gpu, most * settings.num_generations * gpus
                                 * prompt_tokens, gpus)
                 + decode_seconds(shape, gpu, completion, most * settings.num_generations,
                                  context))
            for p, most in tries)
        details["resampling"] = (f"{sum(p for p, _ in tries):.2f} extra full-length "
                                 f"generation calls a step: {FLAT_GROUP_SHARE:.0%} of "
                                 f"{groups:.0f} groups flat, {settings.resample_tries} tries")
    curve = (_critic_curve(config, steps, args, shape, gpu, gpus, sharded, prompt_tokens)
             if work.critic_curve else (0.0, 0.0, ""))
    if curve[0]:
        seconds["critic curve"] = curve[0]
        details["critic curve"] = f"{curve[2]}, HF generate"
    memory, params = memory_gib(shape, config, micro, args, gpus, sharded, curve[1])
    note = f"{rows / gpus:.0f} completions a GPU a step"
    training_peak = memory_gib(shape, config, micro, args, gpus, sharded)[0]
    if memory > training_peak:  # the curve's gathered weights and KV cache, between steps
        note += (f"; memory peaks in the critic curve, {memory - training_peak:.0f} GiB above "
                 "training")
    return StagePlan(stage, steps, f"{settings.prompts_per_step} prompts x "
                     f"{settings.num_generations} samples", per_device, trained, params, memory,
                     note, flops, seconds, details)


def _assumptions(config: RunConfig, methods: list[str], seeds: list[int], gpu: Gpu, gpus: int,
                 sharded: bool, shape: ModelShape, prompt: float, prompt_given: bool,
                 states: float, counted: str) -> list[str]:
    """The plan's first lines: what it counts, and every assumption behind its figures."""
    return [
        f"plan for {config.name}: model {config.model} ({shape.params / 1e9:.2f}B parameters), "
        f"{gpus} x {gpu.name}{', ZeRO-3/FSDP sharded' if sharded else ''}",
        f"methods {', '.join(methods)}; seeds {', '.join(map(str, seeds))}",
        f"{states:.0f} training expert states ({counted}); assumed {prompt:.0f} tokens a "
        f"prompt{' (given)' if prompt_given else ' (300 + 120 a history step)'}, "
        "completions at their max_new_tokens",
        f"training at {TRAIN_MFU:.0%} MFU: 6 x params FLOPs a token, +2 with gradient "
        "checkpointing, +2 for each forward GRPO adds (old policy under vLLM importance "
        "sampling, reference model with beta > 0)",
        f"generation: prefill at {PREFILL_MFU:.0%} MFU; decoding reads the weights and the KV "
        f"cache ({shape.kv_bytes_per_token / 2**10:.0f} KiB a token) at "
        f"{DECODE_BANDWIDTH:.0%} of peak bandwidth with vLLM, {HF_DECODE_BANDWIDTH:.0%} with "
        f"HF generate on the training model; weights pushed to vLLM every step at "
        f"{SYNC_BYTES_PER_S / 1e9:g} GB/s",
        f"ACT resampling (act.zero_variance: resample): {FLAT_GROUP_SHARE:.0%} of groups flat "
        "each draw, every try a full-length generation call on all GPUs while any group is "
        "flat; critic curve (act.eval_every): the held-out pairs every eval_every steps",
        "memory: 16 bytes a trained parameter (sharded with ZeRO-3/FSDP), then the larger of "
        "a micro-batch's activations and logits or the critic curve's generation (bf16 weights "
        "gathered under ZeRO-3, one batch's KV cache), plus vLLM's colocated share; the cached "
        "base model is freed before training",
        "",
        "| stage | steps | a step (global) | a GPU: micro-batch x accumulation | trained tokens "
        "| GPU-hours a seed | memory a GPU (GiB) | |",
        "|---|---|---|---|---|---|---|---|",
    ]


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
    lines = _assumptions(config, methods, seeds, gpu, gpus, sharded, shape, prompt,
                         bool(prompt_tokens), states, counted)
    total = 0.0
    parts: list[str] = []
    with tempfile.TemporaryDirectory() as tmp, common.planned_world(gpus):
        cpu_config = dataclasses.replace(config, device="cpu")  # build TRL configs on this host
        for stage in training_stages(config, methods):
            args = trl_args(stage_inputs(cpu_config, stage), stage, tmp)
            row = plan_stage(stage, config, args, shape, gpu, gpus, sharded, prompt, states)
            memory = row.memory_gib + vllm_share(args, gpu.memory_gib)
            fits = "fits" if memory <= gpu.memory_gib else "DOES NOT FIT"
            hours = row.hours(shape, gpu, gpus)
            uses = sum(stage in method_stages(m) for m in methods)
            total += hours * len(seeds) * uses
            lines.append(
                f"| {stage} | {row.steps} | {row.rows} | {row.per_device} | "
                f"{row.trained_tokens:.3g} | {hours:.1f} | {memory:.0f} | {fits}"
                f"{'; ' + row.note if row.note else ''} |"
            )
            parts.append(row.explain(shape, gpu, gpus))
    evaluation = _evaluation_hours(config, methods, seeds, shape, gpu, gpus, prompt, states)
    lines += ["", *parts, "", *evaluation[1], "", *_disk_and_host(config, shape, gpus), "",
              f"total: about {total + evaluation[0]:.0f} GPU-hours on {gpu.name} "
              f"(training {total:.0f}, data and evaluation {evaluation[0]:.0f})"]
    return "\n".join(lines)


# Host memory of one environment instance, for the environments that run on a JVM.
JVM_GIB = {"scienceworld": 1.5, "twx": 0.08}


def _disk_and_host(config: RunConfig, shape: ModelShape, gpus: int) -> list[str]:
    """What the run keeps on disk and in host memory, which no GPU figure shows."""
    weights = shape.params * 2 / 1e9  # bf16
    trained = lora_params(shape, config.peft.r) if config.peft.enabled else shape.params
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
    def hours(prompts: float, prompt_tokens: float, batch: int, new_tokens: int) -> float:
        """GPU-hours to generate `new_tokens` for each of `prompts` prompts, `batch` at a time
        a GPU, with the pipeline's vLLM engines."""
        share = math.ceil(prompts / gpus)
        size = min(batch, share)
        rounds = math.ceil(share / size) if share else 0
        seconds = (prefill_seconds(shape, gpu, prompts * prompt_tokens, gpus)
                   + rounds * decode_seconds(shape, gpu, new_tokens, size,
                                             prompt_tokens + new_tokens / 2))
        return seconds * gpus / 3600

    alt = config.alternatives
    batch = max(1, config.eval.batch_size)
    if alt.mode == "sample":
        pairs_h = hours(states * alt.samples_per_state, prompt, batch, alt.max_new_tokens)
    else:
        pairs_h = hours(states * 2, prompt, batch, 0)
    critics = 1 + sum(any(is_act(s) for s in method_stages(m)) for m in methods) * len(seeds)
    eval_pairs = _heldout_prompts(config)
    critic_h = critics * hours(eval_pairs, prompt, batch, config.critic.max_new_tokens)
    stages = {s for m in methods for s in method_stages(m)}
    rationales = states if "sr" in stages else 0  # one reflection a state, over its alternatives
    rationale_h = hours(rationales, prompt * 1.5, batch, config.sr.max_new_tokens)
    r = config.rollout
    agents = len(methods) * len(seeds) if r.enabled else 0
    turns = len(r.splits) * r.episodes * r.max_steps
    episodes = len(r.splits) * r.episodes
    agent_h = agents * r.max_steps * hours(episodes, prompt, max(1, r.batch_size),
                                           r.max_new_tokens)
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
