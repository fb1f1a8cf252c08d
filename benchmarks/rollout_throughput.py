"""Agent rollout throughput: batched episodes vs one episode at a time.

Both modes play the same tasks with the same model, greedy, in one process; the batched mode
steps `--episodes` environments at once and generates their actions in one batch per turn, the
baseline plays the episodes one after the other with batch-1 generation. Prints tokens/s and
episodes/s of each and their ratio, and how many episodes took the same actions in both modes
(padding may change a greedy pick now and then, so the work done can differ slightly).

Usage: python benchmarks/rollout_throughput.py [--model smollm2-135m] [--episodes 16]
       [--max-steps 6] [--dtype auto]
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
    parser.add_argument("--split", default="id_test")
    parser.add_argument("--episodes", type=int, default=16)
    parser.add_argument("--max-steps", type=int, default=6)
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--dtype", default="auto")
    args = parser.parse_args()

    import torch

    from actrain.config import RolloutConfig
    from actrain.device import resolve_device, resolve_dtype
    from actrain.envs import make
    from actrain.models import load_model
    from actrain.rollouts import AgentSettings, run_episodes

    device = resolve_device("auto")
    dtype = resolve_dtype(args.dtype, device)
    model, tokenizer = load_model(args.model, dtype, device)
    with make(args.env) as env:
        tasks = env.tasks(args.split)[: args.episodes]

    def play(parallel: int) -> tuple[list[dict], dict, float]:
        decoding = RolloutConfig(max_steps=args.max_steps, max_new_tokens=args.max_new_tokens,
                                 batch_size=parallel)
        settings = AgentSettings(decoding, dtype=dtype)
        start = time.perf_counter()
        records, stats = run_episodes(model, tokenizer, lambda: make(args.env), tasks,
                                      settings, parallel_envs=parallel)
        return records, stats, time.perf_counter() - start

    play(2)  # warm-up: first-call allocations and JIT paths
    runs = {}
    for label, parallel in (("one at a time", 1), (f"batched x{len(tasks)}", len(tasks))):
        runs[label] = play(parallel)

    where = device if device != "cpu" else f"cpu ({torch.get_num_threads()} threads)"
    print(f"{len(tasks)} episodes of {args.env} {args.split}, at most {args.max_steps} steps, "
          f"model {args.model}, dtype {dtype}, {where}")
    rates = {}
    for label, (records, stats, seconds) in runs.items():
        tokens = stats["prompt_tokens"] + stats["generated_tokens"]
        steps = sum(r["steps"] for r in records)
        rates[label] = (tokens / seconds, len(records) / seconds, stats["generated_tokens"]
                        / seconds)
        print(f"{label:16s} {seconds:7.1f} s  {steps:4d} steps  {tokens / seconds:8.1f} tok/s "
              f"(prompt+generated)  {stats['generated_tokens'] / seconds:6.1f} generated tok/s "
              f"{len(records) / seconds:7.3f} episodes/s  (generation "
              f"{stats['generate_seconds']:.1f} s, env {stats['env_seconds']:.2f} s)")
    (single, batched) = runs.values()
    same = sum(
        [t["action"] for t in a["transcript"]] == [t["action"] for t in b["transcript"]]
        for a, b in zip(single[0], batched[0], strict=True)
    )
    (s_tok, s_eps, s_gen), (b_tok, b_eps, b_gen) = rates.values()
    print(f"same actions in both modes: {same}/{len(tasks)} episodes")
    print(f"speed-up batched / one at a time: {b_tok / s_tok:.2f}x tokens/s, "
          f"{b_gen / s_gen:.2f}x generated tokens/s, {b_eps / s_eps:.2f}x episodes/s "
          f"(target >= 5x)")


if __name__ == "__main__":
    main()
