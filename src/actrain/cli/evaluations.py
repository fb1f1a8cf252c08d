"""The evaluation commands: `actrain eval-critic`, `eval-agent`, `eval-reasoning` and
`study`, each on any checkpoint."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from actrain.errors import ActrainError


def heldout_pairs_file(config: Any, config_path: str) -> Path:
    """A run's held-out pairs, which critic evaluations and studies judge: there, or one error
    saying how to make them."""
    from actrain.runtime.run_folder import RunFolder

    pairs_file = RunFolder(config.run_dir).eval_pairs
    if not pairs_file.exists():
        raise ActrainError(
            f"{pairs_file} does not exist: run `actrain run {config_path} --until pairs` first"
        )
    return pairs_file


def eval_critic(args: argparse.Namespace) -> None:
    """Critic accuracy of any checkpoint on the pairs of an existing run: its held-out pairs,
    and, where the run built one, its hard set (same-kind alternatives verified worse), with the
    no-model rules on both beside them, as every run's report shows them."""
    import json

    from actrain.config.schema import load_config
    from actrain.envs import instructions_of
    from actrain.eval.critic import evaluate_critic, hard_set_evaluation
    from actrain.run.layout import RunLayout
    from actrain.run.results import rule_results
    from actrain.runtime.device import resolve_device, resolve_dtype
    from actrain.runtime.io import read_pairs, write_json
    from actrain.runtime.models import load_model

    config = load_config(args.config, args.overrides)
    pairs_file = heldout_pairs_file(config, args.config)
    layout = RunLayout(config)
    device = resolve_device(config.device)
    dtype = resolve_dtype(config.dtype, device)
    model, tokenizer = load_model(args.model, dtype, device, config.chat_template_kwargs)

    def judge(path: Path, evaluation: Any) -> dict[str, Any]:
        metrics, _ = evaluate_critic(
            model, tokenizer, read_pairs(path), config.critic, evaluation, dtype, config.seed,
            instructions=instructions_of(config.env),
        )
        return metrics

    metrics = judge(pairs_file, config.eval)  # the held-out figures stay at the top level
    if layout.hard_pairs.exists():
        metrics["hard_set"] = judge(layout.hard_pairs, hard_set_evaluation(config.eval))
    metrics["rules"] = rule_results(layout)
    if args.out:
        write_json(args.out, {"model": args.model, **metrics})
    print(json.dumps(metrics, indent=2))


def eval_agent(args: argparse.Namespace) -> None:
    """Roll any checkpoint out as an agent under the config's protocol."""
    import json

    from actrain.config.schema import load_config
    from actrain.eval.rollouts import evaluate_agent
    from actrain.runtime.device import resolve_device, resolve_dtype
    from actrain.runtime.io import write_json, write_jsonl
    from actrain.runtime.models import load_model

    config = load_config(args.config, args.overrides)
    config.device = resolve_device(config.device)
    config.dtype = resolve_dtype(config.dtype, config.device)
    model, tokenizer = load_model(args.model, config.dtype, config.device,
                                  config.chat_template_kwargs)
    summary, episodes = evaluate_agent(model, tokenizer, config, config.seed,
                                       heldout=_heldout_states(config))
    if args.out:
        write_json(args.out, {"model": args.model, **summary})
        write_jsonl(Path(args.out).with_suffix(".episodes.jsonl"), episodes)  # (not a run folder)
    print(json.dumps({k: v for k, v in summary.items() if k != "protocol"}, indent=2))


def _heldout_states(config: Any) -> Any:
    """The run folder's held-out expert states for next-action accuracy: the per-split states
    `actrain run` / `compare` gather (`trajectories/next_action_<split>.jsonl`) where every
    rollout split has them, else its `id_test` trajectories, else none."""
    from actrain.runtime.io import read_trajectories
    from actrain.runtime.run_folder import RunFolder

    layout = RunFolder(config.run_dir)
    per_split = {split: layout.next_action_traj(split) for split in config.rollout.splits}
    if config.rollout.next_action_states > 0 and all(p.exists() for p in per_split.values()):
        return {split: read_trajectories(path) for split, path in per_split.items()}
    heldout = layout.eval_traj
    return read_trajectories(heldout) if heldout.exists() else ()


def eval_reasoning(args: argparse.Namespace) -> None:
    """MATH-500 / GPQA-Diamond accuracy of any checkpoint, mean ± std over seeds."""
    from actrain.eval.reasoning import evaluate_reasoning, format_table, load_gpqa, load_math
    from actrain.runtime.device import resolve_device, resolve_dtype
    from actrain.runtime.io import write_json
    from actrain.runtime.models import load_model

    if not (args.math or args.gpqa):
        raise ActrainError("eval-reasoning needs --math FILE and/or --gpqa FILE")
    for flag, value in (("--limit", args.limit), ("--max-new-tokens", args.max_new_tokens),
                        ("--batch-size", args.batch_size)):
        if value is not None and value < 1:
            raise ActrainError(f"{flag} must be at least 1, not {value}")
    if args.temperature < 0:
        raise ActrainError(f"--temperature must be 0 (greedy) or more, not {args.temperature}")
    if not 0 < args.top_p <= 1 or args.top_k < 0:
        raise ActrainError("--top-p must be in (0, 1] and --top-k 0 (off) or more")
    benchmarks = {}  # read first: a bad file fails before minutes of model loading
    if args.math:
        benchmarks["math500"] = load_math(args.math, args.limit)
    if args.gpqa:
        benchmarks["gpqa_diamond"] = load_gpqa(args.gpqa, args.limit)
    device = resolve_device("auto")
    dtype = resolve_dtype(args.dtype, device)
    model, tokenizer = load_model(args.model, dtype, device, {})
    result = evaluate_reasoning(model, tokenizer, benchmarks, seeds=args.seeds,
                                max_new_tokens=args.max_new_tokens,
                                temperature=args.temperature, top_p=args.top_p,
                                top_k=args.top_k, batch_size=args.batch_size, dtype=dtype)
    if args.out:
        write_json(args.out, {"model": args.model, "dtype": dtype, **result})
    print(format_table(result))


def study(args: argparse.Namespace) -> None:
    """`study rationale`: the rationale intervention study on a run's held-out pairs."""
    from actrain.config.schema import load_config
    from actrain.envs import instructions_of
    from actrain.eval.studies import format_study, rationale_study
    from actrain.runtime.device import resolve_device, resolve_dtype
    from actrain.runtime.io import read_pairs, write_json
    from actrain.runtime.models import load_model

    config = load_config(args.config, args.overrides)
    pairs_file = heldout_pairs_file(config, args.config)
    pairs = read_pairs(pairs_file)
    if config.eval.max_pairs:
        pairs = pairs[: config.eval.max_pairs]
    device = resolve_device(config.device)
    dtype = resolve_dtype(config.dtype, device)
    results = {}
    for name in args.model or [config.model]:
        model, tokenizer = load_model(name, dtype, device, config.chat_template_kwargs)
        results[name] = rationale_study(model, tokenizer, pairs, config.critic,
                                        args.max_new_tokens, config.eval.batch_size, dtype,
                                        evaluation=config.eval, seed=config.seed,
                                        instructions=instructions_of(config.env))
    if args.out:
        budget = args.max_new_tokens or config.critic.max_new_tokens
        write_json(args.out, {"pairs_file": str(pairs_file), "max_new_tokens": budget,
                              "models": results})
    print(format_study(results))
