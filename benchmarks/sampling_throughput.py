"""Alternative sampling throughput: shared prompt encoding vs re-encoding per sample.

Runs both on the same model, prompts and seed, in one process, and prints the ratio.
Usage: python benchmarks/sampling_throughput.py [--model smollm2-135m] [--states 16] [--k 4]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--env", default="twx/twc")
    parser.add_argument("--states", type=int, default=16)
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--max-new-tokens", type=int, default=16)
    args = parser.parse_args()

    from actrain.data.pairs import expert_states
    from actrain.data.trajectories import collect_expert_trajectory
    from actrain.envs import make
    from actrain.prompts import actor_prompt, render_state
    from actrain.runtime.device import resolve_device, resolve_dtype
    from actrain.runtime.generation import generate
    from actrain.runtime.models import load_model

    with make(args.env) as env:
        trajectories = [collect_expert_trajectory(env, t) for t in env.tasks("train")[:8]]
    states = expert_states(trajectories, history_len=1)[: args.states]
    device = resolve_device("auto")
    dtype = resolve_dtype("auto", device)
    model, tokenizer = load_model(args.model, dtype, device)
    prompts = [actor_prompt(tokenizer, render_state(s.state), reasoning=False) for s in states]
    common = dict(num_samples=args.k, max_new_tokens=args.max_new_tokens, temperature=0.7,
                  top_p=0.95, batch_size=16, stop=["</action>"], seed=0, autocast=dtype)
    generate(model, tokenizer, prompts[:2], **common)  # warm-up
    times = {}
    for share in (False, True):
        start = time.perf_counter()
        generate(model, tokenizer, prompts, share_prefix=share, **common)
        times[share] = time.perf_counter() - start
    samples = len(prompts) * args.k
    print(f"{len(prompts)} states x K={args.k} = {samples} samples, model {args.model}")
    for share, label in ((False, "re-encode prompt per sample"), (True, "shared prompt encoding")):
        print(f"{label:28s} {times[share]:.1f} s ({samples / times[share]:.2f} samples/s)")
    print(f"speed-up: {times[False] / times[True]:.2f}x")


if __name__ == "__main__":
    main()
