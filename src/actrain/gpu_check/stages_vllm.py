"""The vLLM stage: an engine started, used and freed twice in one process, which only works when
the first engine gives its GPU memory back."""

from __future__ import annotations

import importlib.util
import time
from typing import Any

from actrain.gpu_check.memory import free_memory
from actrain.gpu_check.outcomes import Skip, require
from actrain.gpu_check.runner import Check
from actrain.gpu_check.settings import CONTINUATIONS, EMBEDDED, PROMPT


def stage_vllm_twice(check: Check) -> dict[str, Any]:
    """Start, use and free a vLLM engine twice in one process: the second start needs the
    first's memory back (the utilisation asked for is more than half the GPU)."""
    if check.cpu:
        raise Skip("vLLM needs a CUDA GPU")
    if importlib.util.find_spec("vllm") is None:
        raise Skip("vLLM is not installed (pip install 'actrain[vllm]')")
    import torch

    from actrain.runtime.generation import continuation_logprobs, generate
    from actrain.runtime.models import load_tokenizer, resolve_model_path
    from actrain.runtime.vllm_engine import VLLMEngine

    path, tokenizer = resolve_model_path(EMBEDDED), load_tokenizer(EMBEDDED)
    total = torch.cuda.mem_get_info()[1]
    rounds = []
    for attempt in (1, 2):
        free_memory(True)
        before = torch.cuda.mem_get_info()[0]
        start = time.time()
        engine = VLLMEngine(path, "bfloat16", 0, gpu_memory_utilization=0.55)
        started = round(time.time() - start, 1)
        texts = generate(engine, tokenizer, [PROMPT], num_samples=2, max_new_tokens=8,
                         temperature=0)
        scores = continuation_logprobs(engine, tokenizer, PROMPT, CONTINUATIONS)
        closed = hasattr(engine, "close")
        if closed:
            engine.close()
        del engine
        free_memory(True)
        after = torch.cuda.mem_get_info()[0]
        rounds.append({"round": attempt, "start_seconds": started, "texts": texts[0],
                       "logprobs": scores, "freed_with": "close()" if closed else "del + gc",
                       "not_freed_gib": round((before - after) / 2**30, 2)})
    details = {"rounds": rounds, "gpu_memory_gib": round(total / 2**30, 1)}
    leak = max(r["not_freed_gib"] for r in rounds)
    require(leak * 2**30 < 0.05 * total,
            f"{leak} GiB of GPU memory stayed held after an engine was freed")
    return details
