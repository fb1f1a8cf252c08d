"""Agent evaluation throughput: the earlier path against the current one, in one process.

Both paths play the same tasks with the same model, greedy, batched as `actrain` rolls agents
out, and measure the next action at the same held-out expert states. The earlier path
(`AgentSettings(prefix_cache=False)`) encodes every prompt whole and tokenizes the prompts one by
one for its statistics; the current one encodes the tokens a batch's prompts start with once
(`generate(common_prefix=True)`) and counts tokens in one call. The two alternate `--repeats`
times, so that a machine shared with other work slows both alike, and each path's best repeat
counts. Prints episodes a minute and next-action states a minute of each (wall clock and, beside
it, this process's CPU time), their
ratio, and how many episodes and states got the same actions in both (floating-point order may
change a greedy pick now and then). `--serial` also plays the episodes one at a time with batch-1
generation, the baseline batching is measured against.

On a CPU the current path also encodes each row's own tokens on their own (no padding to
compute) and stacks the caches (`generation._rows_encoded_alone`).

Usage: python benchmarks/rollout_throughput.py [--model smollm2-135m] [--episodes 16]
       [--max-steps 6] [--states 64] [--repeats 2] [--dtype auto] [--threads N] [--serial]
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
    parser.add_argument("--states", type=int, default=64, help="held-out next-action states")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch threads (0: torch's own); 1 makes CPU time a steady measure "
                             "of work on a shared machine, where waiting threads spin")
    parser.add_argument("--serial", action="store_true",
                        help="also play the episodes one at a time (batch-1 generation)")
    args = parser.parse_args()

    import torch

    from actrain.config.schema import RolloutConfig
    from actrain.data.trajectories import collect_expert_trajectory
    from actrain.envs import make
    from actrain.eval.agent_settings import AgentSettings
    from actrain.eval.next_action import next_action_records
    from actrain.eval.rollouts import run_episodes
    from actrain.runtime.device import resolve_device, resolve_dtype
    from actrain.runtime.models import load_model

    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device("auto")
    dtype = resolve_dtype(args.dtype, device)
    model, tokenizer = load_model(args.model, dtype, device)
    with make(args.env) as env:
        tasks = env.tasks(args.split)[: args.episodes]
        held_out, states = [], 0
        for task in env.expert_tasks(args.split)[args.episodes:]:  # not the played tasks
            if states >= args.states:
                break
            record = collect_expert_trajectory(env, task)
            held_out.append(record)
            states += len(record.steps)

    def settings(new: bool, parallel: int) -> AgentSettings:
        decoding = RolloutConfig(max_steps=args.max_steps, max_new_tokens=args.max_new_tokens,
                                 batch_size=parallel)
        return AgentSettings(decoding, dtype=dtype, prefix_cache=new)

    def timed(work):  # (result, wall seconds, CPU seconds of this process)
        wall, cpu = time.perf_counter(), time.process_time()
        result = work()
        return result, time.perf_counter() - wall, time.process_time() - cpu

    def play(new: bool, parallel: int):
        return timed(lambda: run_episodes(model, tokenizer, lambda: make(args.env), tasks,
                                          settings(new, parallel), parallel_envs=parallel)[0])

    def measure(new: bool):
        return timed(lambda: next_action_records(model, tokenizer, {args.split: held_out},
                                                 settings(new, len(tasks))))

    play(True, 2)  # warm-up: first-call allocations and JIT paths
    labels = {False: "OLD (whole prompts)", True: "NEW (shared prefix)"}
    runs: dict[bool, dict[str, list[tuple[float, float]]]] = {
        new: {"episodes": [], "states": []} for new in labels}
    outputs: dict[bool, dict] = {}
    for _ in range(args.repeats):
        for new in (False, True):
            records, wall, cpu = play(new, len(tasks))
            answers, s_wall, s_cpu = measure(new)
            runs[new]["episodes"].append((wall, cpu))
            runs[new]["states"].append((s_wall, s_cpu))
            outputs[new] = {"records": records, "answers": answers}

    where = device if device != "cpu" else f"cpu ({torch.get_num_threads()} threads)"
    print(f"{len(tasks)} episodes of {args.env} {args.split} (at most {args.max_steps} steps, "
          f"batched x{len(tasks)}) and {states} held-out next-action states, model {args.model}, "
          f"dtype {dtype}, {where}, best of {args.repeats} alternating repeat(s)")
    rates = {}
    for new, label in labels.items():
        # the best of the repeats: other work on the machine only ever slows a repeat down
        e_wall, e_cpu = (min(t[i] for t in runs[new]["episodes"]) for i in (0, 1))
        s_wall, s_cpu = (min(t[i] for t in runs[new]["states"]) for i in (0, 1))
        n_eps, n_states = len(tasks), states
        rates[new] = (n_eps / e_wall * 60, n_eps / e_cpu * 60, n_states / s_wall * 60,
                      n_states / s_cpu * 60)
        print(f"{label:20s} {rates[new][0]:7.1f} episodes/min ({rates[new][1]:7.1f} per CPU-min)"
              f"   {rates[new][2]:7.1f} next-action states/min ({rates[new][3]:7.1f} per CPU-min)")
    old, new = rates[False], rates[True]
    print(f"NEW / OLD: episodes {new[0] / old[0]:.2f}x wall ({new[1] / old[1]:.2f}x CPU), "
          f"next-action states {new[2] / old[2]:.2f}x wall ({new[3] / old[3]:.2f}x CPU)")
    same_eps = sum([t.action for t in a.transcript] == [t.action for t in b.transcript]
                   for a, b in zip(outputs[False]["records"], outputs[True]["records"],
                                   strict=True))
    same_states = sum(a.action == b.action for a, b in
                      zip(outputs[False]["answers"], outputs[True]["answers"], strict=True))
    same_verdict = sum(a.correct == b.correct for a, b in
                       zip(outputs[False]["answers"], outputs[True]["answers"], strict=True))
    print(f"same actions on both paths: {same_eps}/{len(tasks)} episodes, "
          f"{same_states}/{states} states (the same verdict, right or wrong, on "
          f"{same_verdict}/{states})")
    if args.serial:
        records, wall, cpu = play(True, 1)
        batched = rates[True][0]
        print(f"one at a time         {len(tasks) / wall * 60:7.1f} episodes/min: batching is "
              f"{batched / (len(tasks) / wall * 60):.2f}x")


if __name__ == "__main__":
    main()
