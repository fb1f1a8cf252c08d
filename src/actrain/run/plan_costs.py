"""What a run's pieces cost on a GPU, for `actrain plan` (run/plan.py): the GPUs and model shapes it
knows, the FLOPs a trained token takes, decoding time, and memory a GPU. The assumptions are
module constants, printed with every plan."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from actrain.config.schema import RunConfig
from actrain.errors import ActrainError

TRAIN_MFU = 0.35  # share of peak a well-configured bf16 training step reaches
PREFILL_MFU = 0.5
# vLLM's decoding reaches about three quarters of peak memory bandwidth (CUDA graphs, paged
# attention); Hugging Face `generate` on the training model, without CUDA graphs, is bound by
# kernel launches well below that.
DECODE_BANDWIDTH = 0.75
HF_DECODE_BANDWIDTH = 0.3
# Pushing the trained weights into colocated vLLM: one collective gather and one `load_weights`
# call a parameter (`trl/generation/vllm_generation.py`, `sync_weights`), a few seconds for 8B.
SYNC_BYTES_PER_S = 5e9
# Share of GRPO pair groups whose G samples all get the same reward, each time a group is drawn.
FLAT_GROUP_SHARE = 0.25
KV_BYTES = 2  # bf16 keys and values


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
    kv_heads: int
    head_dim: int

    @property
    def kv_bytes_per_token(self) -> float:
        """KV cache a token of context holds (and a decoding step reads): keys and values of
        every layer."""
        return 2.0 * self.kv_heads * self.head_dim * KV_BYTES * self.layers


# Hub models the shipped configs name, for planning offline (parameters incl. embeddings).
KNOWN_MODELS = {
    "Qwen/Qwen3-8B": ModelShape(8.19e9, 4096, 36, 151936, 8, 128),
    "Qwen/Qwen3-4B": ModelShape(4.02e9, 2560, 36, 151936, 8, 128),
    "Qwen/Qwen3-1.7B": ModelShape(2.03e9, 2048, 28, 151936, 8, 128),
    "Qwen/Qwen3-0.6B": ModelShape(0.75e9, 1024, 28, 151936, 8, 128),
    "Qwen/Qwen2.5-7B-Instruct": ModelShape(7.62e9, 3584, 28, 152064, 4, 128),
    "meta-llama/Llama-3.1-8B-Instruct": ModelShape(8.03e9, 4096, 32, 128256, 8, 128),
}


def model_shape(name: str) -> ModelShape:
    """Parameters and sizes of `name`: a local or embedded model's config, else the table."""
    if name in KNOWN_MODELS:
        return KNOWN_MODELS[name]
    try:
        import torch
        from transformers import AutoConfig, AutoModelForCausalLM

        from actrain.runtime.models import resolve_model_path

        config = AutoConfig.from_pretrained(resolve_model_path(name))
        with torch.device("meta"):
            params = sum(p.numel() for p in AutoModelForCausalLM.from_config(config).parameters())
        heads = config.num_attention_heads
        kv_heads = getattr(config, "num_key_value_heads", None) or heads
        head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
        return ModelShape(float(params), config.hidden_size, config.num_hidden_layers,
                          config.vocab_size, kv_heads, head_dim)
    except (OSError, ValueError) as exc:
        raise ActrainError(f"cannot size model {name!r} offline ({exc.__class__.__name__}); "
                           f"known: {', '.join(KNOWN_MODELS)}") from None


def prefill_seconds(shape: ModelShape, gpu: Gpu, tokens: float, gpus: int) -> float:
    """Wall-clock seconds to encode `tokens` prompt tokens spread over `gpus` GPUs."""
    return 2 * shape.params * tokens / (gpu.bf16_flops * PREFILL_MFU * gpus)


def decode_seconds(shape: ModelShape, gpu: Gpu, steps: float, batch: float, context: float,
                   efficiency: float = DECODE_BANDWIDTH) -> float:
    """Wall-clock seconds for `steps` decoding steps of a `batch` of sequences on one GPU.

    Decoding is bound by memory: a step reads the bf16 weights once and the KV cache of every
    sequence, `context` tokens on average, which at a few dozen sequences of a thousand tokens
    is a third as much again as the weights."""
    read = 2 * shape.params + batch * context * shape.kv_bytes_per_token
    return steps * read / (gpu.bandwidth * efficiency)


def lora_params(shape: ModelShape, r: int) -> float:
    # q, k, v, o and the three MLP projections of every layer, MLP about 3.5x hidden wide
    per_layer = r * (4 * 2 * shape.hidden + 3 * (shape.hidden + int(3.5 * shape.hidden)))
    return float(per_layer * shape.layers)


def checkpointing(args: Any) -> bool:
    # transformers 5 renamed it `activation_checkpointing`; the old name mirrors the new one
    return bool(getattr(args, "activation_checkpointing", None)
                or getattr(args, "gradient_checkpointing", False))


def train_flops(args: Any, grpo: bool) -> tuple[float, list[str]]:
    """FLOPs a trained token, in units of the parameter count, and what they are made of.

    GRPO's extra forwards follow TRL 1.16's `GRPOTrainer._generate_and_score_completions`: the
    old policy's log-probabilities are computed when `gradient_accumulation_steps` is not a
    multiple of `steps_per_generation x num_iterations`, or when `use_vllm` and
    `vllm_importance_sampling_correction` (True by default) are both set; the reference
    model's when `beta != 0` (a separate model, or the base model under PEFT with the adapter
    disabled)."""
    flops, parts = 6.0, ["6 forward and backward"]
    if checkpointing(args):
        flops += 2
        parts.append("2 checkpointing recompute")
    if grpo:
        every = (getattr(args, "steps_per_generation", None)
                 or args.gradient_accumulation_steps) * getattr(args, "num_iterations", 1)
        vllm_correction = bool(getattr(args, "use_vllm", False)
                               and getattr(args, "vllm_importance_sampling_correction", True))
        if args.gradient_accumulation_steps % every or vllm_correction:
            flops += 2
            parts.append("2 old-policy forward" + (" for vLLM importance sampling"
                                                   if vllm_correction else ""))
        if getattr(args, "beta", 0.0):
            flops += 2
            parts.append("2 reference forward (beta > 0)")
    return flops, parts


def memory_gib(shape: ModelShape, config: RunConfig, micro_tokens: float, args: Any,
                gpus: int, sharded: bool, generation_gib: float = 0.0) -> tuple[float, float]:
    """(GiB a GPU needs, trained parameters) for one training stage.

    A trained parameter costs 16 bytes wherever it is kept in mixed precision: weight and
    gradient 4 + 4 in fp32 (one GPU, DDP, FSDP2, LoRA adapters), or 2 + 2 in bf16 plus a 4-byte
    fp32 master (ZeRO-3), and AdamW's two fp32 moments 8. `generation_gib`: a generation the
    trainer runs between steps (the critic curve), when activations are freed."""
    peft = config.peft
    if peft.enabled:
        trained = lora_params(shape, peft.r)
        weights = shape.params * (0.5 if peft.load_in_4bit else 2.0) + trained * 16
    else:
        trained = shape.params
        weights = shape.params * 16 / (gpus if sharded else 1)
    per_token_layer = 2 if checkpointing(args) else 34  # bytes x hidden (Korthikanti 2022)
    activations = micro_tokens * shape.hidden * shape.layers * per_token_layer
    logits = micro_tokens * shape.vocab * 4  # bf16 logits and their softmax
    return weights / 2**30 + max((activations + logits) / 2**30, generation_gib), trained


def vllm_share(args: Any, gpu_gib: float) -> float:
    """GiB a colocated vLLM engine takes of a `gpu_gib` GPU (TRL's args of a stage)."""
    if getattr(args, "use_vllm", False) and getattr(args, "vllm_mode", "") == "colocate":
        return float(getattr(args, "vllm_gpu_memory_utilization", 0.3)) * gpu_gib
    return 0.0
