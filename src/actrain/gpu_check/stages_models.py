"""The model stages: bf16 loads on the GPU, greedy and sampled generation, and cached
continuation log-probabilities against a plain forward and against fp32 on the CPU."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from actrain.gpu_check.memory import free_memory
from actrain.gpu_check.outcomes import CheckFailed, Skip, require
from actrain.gpu_check.runner import Check
from actrain.gpu_check.settings import (
    CONTINUATIONS,
    EMBEDDED,
    PROMPT,
    TOLERANCE_ABS,
    TOLERANCE_REL,
)


def plain_logprobs(model: Any, tokenizer: Any, prompt: str, continuations: Sequence[str],
                   dtype: str) -> list[float]:
    """The reference for `generation.continuation_logprobs`: one full forward per sequence, no
    cache, no padding, the same token ids."""
    import torch

    from actrain.runtime.device import autocast

    device = next(model.parameters()).device
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    scores = []
    for text in continuations:
        cont = tokenizer(text, add_special_tokens=False)["input_ids"]
        ids = torch.tensor([prompt_ids + cont], device=device)
        with torch.no_grad(), autocast(dtype, device):
            logits = model(input_ids=ids).logits.float()
        logp = torch.log_softmax(logits[0, len(prompt_ids) - 1 : -1], dim=-1)
        scores.append(logp.gather(-1, torch.tensor(cont, device=device)[:, None]).sum().item())
    return scores


def agree(got: Sequence[float], want: Sequence[float]) -> tuple[bool, float]:
    """Whether two lists of log-probabilities agree within the tolerance; the largest gap."""
    gaps = [abs(a - b) for a, b in zip(got, want, strict=True)]
    ok = all(abs(a - b) <= TOLERANCE_ABS + TOLERANCE_REL * abs(b)
             for a, b in zip(got, want, strict=True))
    return ok, round(max(gaps), 5)


def model_checks(check: Check, name: str) -> dict[str, Any]:
    """Load `name` on the run's device and dtype; generate greedily and by sampling; score
    continuations with the cache and without."""
    import torch

    from actrain.runtime.generation import continuation_logprobs, generate
    from actrain.runtime.models import load_model

    start = time.time()
    model, tokenizer = load_model(name, check.dtype, check.device)
    loaded = round(time.time() - start, 1)
    params = {(p.device.type, str(p.dtype).removeprefix("torch.")) for p in model.parameters()}
    want = ("cpu" if check.cpu else "cuda", "float32" if check.cpu else "bfloat16")
    require(params == {want}, f"parameters are on {sorted(params)}, expected {want}")
    prompts = [PROMPT, "<|im_start|>user\nName a fruit.<|im_end|>\n<|im_start|>assistant\n"]
    greedy = generate(model, tokenizer, prompts, max_new_tokens=8, temperature=0,
                      autocast=check.dtype, progress=False)
    require([len(g) for g in greedy] == [1, 1] and all(isinstance(g[0], str) for g in greedy),
            f"greedy generation returned {greedy!r}")
    require(any(g[0] for g in greedy), "greedy generation wrote no text at all")
    kwargs = dict(num_samples=2, max_new_tokens=4, temperature=1.0, stop=["</action>"],
                  autocast=check.dtype, seed=7, progress=False)
    sampled = generate(model, tokenizer, prompts, **kwargs)  # shared-prefix cache path
    again = generate(model, tokenizer, prompts, **kwargs)
    require([len(s) for s in sampled] == [2, 2], f"sampling returned {sampled!r}")
    cached = continuation_logprobs(model, tokenizer, PROMPT, CONTINUATIONS, check.dtype)
    plain = plain_logprobs(model, tokenizer, PROMPT, CONTINUATIONS, check.dtype)
    ok, gap = agree(cached, plain)
    details = {
        "model": name, "load_seconds": loaded, "parameters": sorted(params)[0],
        "attention": getattr(model.config, "_attn_implementation", None),
        "greedy": [g[0] for g in greedy], "sampled": sampled[0],
        "seeded_sampling_repeats": sampled == again,
        "logprobs_cached": cached, "logprobs_plain": plain, "cached_vs_plain_max_gap": gap,
    }
    require(ok, f"cached log-probabilities {cached} differ from a plain forward {plain}")
    if check.cpu:
        require(sampled == again, "seeded sampling on the CPU did not repeat")
    del model
    if check.cuda:
        torch.cuda.synchronize()
    return details


def stage_tiny_model(check: Check) -> dict[str, Any]:
    """The model checks on the tiny random model: seconds, so a failure here is cheap."""
    return model_checks(check, "tiny-random")


def stage_embedded_model(check: Check) -> dict[str, Any]:
    """The model checks on the embedded model (real or stand-in: the record says which)."""
    details = model_checks(check, EMBEDDED)
    details["embedded_model"] = check.results.get("embedded_model", {}).get("kind")
    return details


def stage_logprobs_cuda_vs_cpu(check: Check) -> dict[str, Any]:
    """bf16 on CUDA against fp32 on the CPU, for both models: the same scores within the
    tolerance, and greedy generation on CUDA running with the same prompt."""
    if check.cpu:
        raise Skip("needs CUDA: compares bf16 on the GPU with fp32 on the CPU")
    from actrain.runtime.generation import continuation_logprobs
    from actrain.runtime.models import load_model

    details: dict[str, Any] = {"tolerance": f"{TOLERANCE_ABS} + {TOLERANCE_REL} x |fp32|"}
    failures = []
    for name in ("tiny-random", EMBEDDED):
        gpu_model, tokenizer = load_model(name, "bfloat16", check.device)
        gpu = continuation_logprobs(gpu_model, tokenizer, PROMPT, CONTINUATIONS, "bfloat16")
        del gpu_model
        cpu_model, _ = load_model(name, "float32", "cpu")
        cpu = continuation_logprobs(cpu_model, tokenizer, PROMPT, CONTINUATIONS, "float32")
        del cpu_model
        ok, gap = agree(gpu, cpu)
        details[name] = {"cuda_bf16": gpu, "cpu_fp32": cpu, "max_gap": gap, "ok": ok}
        if not ok:
            failures.append(name)
        free_memory(True)
    if failures:
        raise CheckFailed(f"CUDA bf16 and CPU fp32 log-probabilities disagree for {failures}",
                          details)
    return details
