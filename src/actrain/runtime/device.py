"""Where a model runs and in what precision: one decision, used by every load, generation and
trainer of a run.

- `device: auto` is this process's GPU when one is visible (`cuda:$LOCAL_RANK` under
  `accelerate launch`, so each rank takes its own card), else the CPU.
- `dtype: auto` is bf16 on a GPU and on a CPU that computes bf16 natively (AVX512-BF16 or AMX);
  elsewhere fp32, because emulated bf16 is slower than fp32 there.
- On a GPU the weights are loaded in the compute dtype for generation, evaluation and as a frozen
  LoRA base: an 8B model in fp32 would need twice the memory and run slower.
- Weights an optimizer updates in place are loaded in fp32 on a GPU too, and bf16 comes from the
  trainer's autocast (`bf16=True`): AdamW moves a weight by about lr a step, and bf16 rounds away
  any step below half its spacing near the weight (|w| > ~256 x lr), so at lr 1e-6 pure-bf16
  training leaves ~98% of the weights where they were. This is full fine-tuning on one GPU or
  DDP; ZeRO-3 and FSDP keep an fp32 master copy of bf16 weights themselves (DeepSpeed's optimizer
  partitions, accelerate's upcast for FSDP), and PEFT keeps LoRA adapters in fp32.
- On the CPU the weights are always fp32 and bf16 comes from autocast, which is also where the CPU
  speed-up comes from.
"""

from __future__ import annotations

import contextlib
import os
import re
from contextlib import AbstractContextManager
from pathlib import Path

import torch

from actrain.errors import ActrainError

DTYPES = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16,
          "bf16": torch.bfloat16, "float16": torch.float16, "fp16": torch.float16}


def cpu_has_fast_bf16() -> bool:
    """True where the CPU computes bf16 natively (AVX512-BF16 or AMX); elsewhere bf16 is slower."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_device(name: str = "auto") -> str:
    """`auto` -> `cuda:<local rank>` if a GPU is visible, else `cpu`; `cpu`, `cuda[:N]` as named."""
    if name == "auto":
        if torch.cuda.is_available():
            return f"cuda:{int(os.environ.get('LOCAL_RANK', 0)) % torch.cuda.device_count()}"
        return "cpu"
    if name == "cpu":
        return name
    match = re.fullmatch(r"cuda(?::(\d+))?", name)
    if not match:
        raise ActrainError(f"unknown device {name!r}: use auto, cpu, cuda or cuda:N")
    if not torch.cuda.is_available():
        raise ActrainError(f"device {name} asked for, but torch sees no CUDA GPU here "
                           "(use device: auto or cpu)")
    index = int(match.group(1) or 0)
    if index >= torch.cuda.device_count():
        raise ActrainError(f"device {name} asked for, but only {torch.cuda.device_count()} "
                           "GPU(s) are visible")
    return f"cuda:{index}"


def dtype_from_name(name: str) -> torch.dtype:
    try:
        return DTYPES[name]
    except KeyError:
        raise ActrainError(
            f"unknown dtype {name!r}: use auto, float32, bfloat16 or float16"
        ) from None


def resolve_dtype(name: str, device: str = "cpu") -> str:
    """`auto` -> bfloat16 on a GPU or a CPU with native bf16, else float32."""
    if name != "auto":
        dtype_from_name(name)  # validate
        return name
    if device.startswith("cuda") or (device == "cpu" and cpu_has_fast_bf16()):
        return "bfloat16"
    return "float32"


def weight_dtype(dtype: str, device: str, updated_in_place: bool = False) -> torch.dtype:
    """The dtype weights are loaded in: fp32 on the CPU (autocast computes in `dtype`); on a GPU
    the compute dtype, except fp32 for weights the optimizer updates in place
    (`updated_in_place`: trained with no ZeRO-3 / FSDP master copy), whose small steps the
    compute dtype would round away."""
    if not device.startswith("cuda") or updated_in_place:
        return torch.float32
    return dtype_from_name(dtype)


def autocast(dtype: str, device: torch.device | str) -> AbstractContextManager[object]:
    """Mixed precision for inference outside TRL's trainers, on the model's own device."""
    kind = torch.device(device).type
    if dtype_from_name(dtype) == torch.float32 or kind not in ("cpu", "cuda"):
        return contextlib.nullcontext()
    return torch.autocast(kind, dtype=dtype_from_name(dtype))

