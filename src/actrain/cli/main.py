"""Command line: `actrain run|compare|report|eval-critic|eval-agent|plan|config CONFIG
[key=value ...]`, `actrain study rationale CONFIG`, `actrain eval-reasoning`, `actrain envs`.

Overrides (`key.sub=value`) may come anywhere after the command, before or after its flags."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from pathlib import Path

from actrain.cli import evaluations
from actrain.errors import ActrainError
from actrain.runtime import distributed, logs


def _pipeline(args: argparse.Namespace):  # noqa: ANN202 - actrain.run.pipeline.Pipeline
    from actrain.config.schema import load_config
    from actrain.run.pipeline import Pipeline

    config = load_config(args.config, args.overrides)
    if args.command == "compare":
        pipeline = Pipeline(config, config.compare.methods, config.compare.seeds)
    else:
        pipeline = Pipeline(config)
    pipeline.command = getattr(args, "command_line", pipeline.command)  # for model cards
    return pipeline


def _run(args: argparse.Namespace) -> None:
    """`run`: the config's pipeline (and the untrained model); `compare`: methods x seeds."""
    pipeline = _pipeline(args)
    pipeline.run(until=args.until)
    report = pipeline.layout.report_file
    if report.exists() and distributed.is_main():  # one line, not one a launched process
        print(f"report: {report}")


def _report(args: argparse.Namespace) -> None:
    """Rebuild report.md from whatever a run (or a comparison) has measured so far."""
    args.command = "compare" if args.compare else "run"
    pipeline = _pipeline(args)
    if not pipeline.layout.stages_file.exists():
        raise ActrainError(f"{pipeline.layout.dir} holds no run yet: run "
                           f"`actrain run {args.config}`")
    print(f"report: {pipeline.report()}")


def _plan(args: argparse.Namespace) -> None:
    """Batches, TRL configs, tokens, GPU-hours and memory of a run, before it runs."""
    from actrain.config.schema import load_config
    from actrain.run.plan import plan

    config = load_config(args.config, args.overrides)
    methods = config.compare.methods if args.compare else ["prompt", config.pipeline]
    seeds = config.compare.seeds if args.compare else [config.seed]
    print(plan(config, methods, seeds, args.gpu, args.gpus, args.sharded, args.steps_per_task,
               args.prompt_tokens))


def _config(args: argparse.Namespace) -> None:
    """Print the resolved config: every key, its value, its default where it differs, its doc."""
    from actrain.config.docs import describe
    from actrain.config.schema import load_config
    from actrain.runtime.device import resolve_device, resolve_dtype

    config = load_config(args.config, args.overrides)
    device = resolve_device(config.device)
    header = [f"actrain config {args.config or '(defaults)'} {' '.join(args.overrides)}".strip(),
              f"here: device {config.device} -> {device}, dtype {config.dtype} -> "
              f"{resolve_dtype(config.dtype, device)}"]
    print(describe(config, header), end="")


def _export_pairs(args: argparse.Namespace) -> None:
    """A run's pairs as TRL preference data (prompt / chosen / rejected messages)."""
    from actrain.config.schema import load_config
    from actrain.data.preference_export import preference_rows
    from actrain.runtime.io import read_pairs, write_jsonl
    from actrain.runtime.run_folder import RunFolder

    config = load_config(args.config, args.overrides)
    path = RunFolder(config.run_dir).split_pairs(args.split)
    if not path.exists():
        raise ActrainError(f"{path} does not exist: run `actrain run {args.config} --until "
                           f"pairs` first")
    rows = preference_rows(read_pairs(path), config, args.role)
    write_jsonl(args.out, rows)
    print(f"wrote {len(rows)} {args.role} preference rows to {args.out}")


def _push(args: argparse.Namespace) -> None:
    """Upload a checkpoint folder with its model card to the Hugging Face Hub."""
    from actrain.report.model_cards import push

    files = push(args.checkpoint, args.repo, args.private, args.dry_run)
    if args.dry_run:
        print(f"would push {args.checkpoint} to {args.repo}:")
        print("\n".join(files))
    else:
        print(f"pushed {len(files)} files to https://huggingface.co/{args.repo}")


def _envs(args: argparse.Namespace) -> None:
    """Every registered environment, and whether it can run here (packages, Java, data)."""
    from actrain.envs import registered_ids
    from actrain.envs.base import missing, use_entry_point

    if args.config or args.overrides:  # its `env.entry_point` too
        from actrain.config.schema import load_config

        use_entry_point(load_config(args.config, args.overrides).env)
    ids = registered_ids()
    width = max(len(i) for i in ids)
    for env_id in ids:
        lacks = missing(env_id)
        print(f"{env_id:<{width}}  " + ("usable here" if not lacks else
                                       "needs " + "; ".join(lacks)))


def _add_run_commands(sub: argparse._SubParsersAction) -> None:
    """`run`, `compare` and `report`: the commands that fill a run folder and report on it."""
    run = sub.add_parser("run", help="run the ACT pipeline of a config into runs/<name>/")
    run.add_argument("config", help="YAML config file")
    run.add_argument("overrides", nargs="*", help="config overrides, e.g. act.max_steps=5")
    run.add_argument("--until", help="stop after this stage: collect, pairs, train, evaluate")
    run.set_defaults(func=_run)
    compare = sub.add_parser(
        "compare", help="run compare.methods x compare.seeds on shared data; one report"
    )
    compare.add_argument("config", help="YAML config file with a compare: section")
    compare.add_argument("overrides", nargs="*", help="config overrides, e.g. compare.seeds=[0]")
    compare.add_argument("--until", help="stop after this stage: collect, pairs, train, evaluate")
    compare.set_defaults(func=_run)
    report = sub.add_parser("report", help="rebuild report.md from a run's stored results")
    report.add_argument("config", help="the run's YAML config")
    report.add_argument("overrides", nargs="*", help="config overrides")
    report.add_argument("--compare", action="store_true", help="the run is an `actrain compare`")
    report.set_defaults(func=_report)


def _add_checkpoint_evals(sub: argparse._SubParsersAction) -> None:
    """`eval-critic` and `eval-agent`: any checkpoint measured on a run's data and protocol."""
    crit = sub.add_parser(
        "eval-critic", help="critic accuracy of any checkpoint: held-out pairs, hard set, rules")
    crit.add_argument("config", help="the run's YAML config (its pairs are used)")
    crit.add_argument("overrides", nargs="*", help="config overrides")
    crit.add_argument("--model", required=True, help="checkpoint folder, embedded id or hub id")
    crit.add_argument("--out", help="also write the metrics to this JSON file")
    crit.set_defaults(func=evaluations.eval_critic)
    agent = sub.add_parser("eval-agent", help="roll any checkpoint out as an agent")
    agent.add_argument("config", help="YAML config (env, rollout protocol, prompt format)")
    agent.add_argument("overrides", nargs="*", help="config overrides, e.g. rollout.episodes=4")
    agent.add_argument("--model", required=True, help="checkpoint folder, embedded id or hub id")
    agent.add_argument("--out", help="write the summary to this JSON file (episodes beside it)")
    agent.set_defaults(func=evaluations.eval_agent)


def _add_plan(sub: argparse._SubParsersAction) -> None:
    """`plan`: what a run will cost, before it runs."""
    planner = sub.add_parser("plan", help="batches, TRL configs, GPU-hours and memory of a run")
    planner.add_argument("config", help="YAML config file")
    planner.add_argument("overrides", nargs="*", help="config overrides")
    planner.add_argument("--compare", action="store_true",
                         help="plan `actrain compare` (compare.methods x compare.seeds)")
    planner.add_argument("--gpu", default="h100", help="h100, h200, a100 or l40s")
    planner.add_argument("--gpus", type=int, default=8, help="GPUs (processes) in the run")
    planner.add_argument("--sharded", action="store_true",
                         help="ZeRO-3 / FSDP: weights, gradients and optimizer state sharded")
    planner.add_argument("--steps-per-task", type=float, default=10.0,
                         help="expert steps a task, when trajectories are not collected yet")
    planner.add_argument("--prompt-tokens", type=float, default=None,
                         help="tokens a prompt (default: 300 + 120 a history step)")
    planner.set_defaults(func=_plan)


def _add_reasoning_and_study(sub: argparse._SubParsersAction) -> None:
    """`eval-reasoning` and `study`: measurements outside the run's own metrics."""
    reason = sub.add_parser("eval-reasoning",
                            help="MATH-500 / GPQA-Diamond accuracy of any checkpoint (CoT)")
    reason.add_argument("--model", required=True, help="checkpoint folder, embedded id or hub id")
    reason.add_argument("--math", help="MATH-500 JSONL (HuggingFaceH4/MATH-500 test.jsonl)")
    reason.add_argument("--gpqa", help="GPQA CSV (gpqa_diamond.csv of the GPQA release)")
    reason.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2],
                        help="GPQA option orders and sampling seeds (default: 0 1 2)")
    reason.add_argument("--limit", type=int, help="only the first N items of each benchmark")
    reason.add_argument("--max-new-tokens", type=int, default=32768,
                        help="tokens a response may write (default: 32768: a thinking model's "
                             "MATH solution must not be cut)")
    reason.add_argument("--temperature", type=float, default=0.0,
                        help="sampling temperature; 0 (default) is greedy (Qwen3 thinking: 0.6)")
    reason.add_argument("--top-p", type=float, default=1.0,
                        help="nucleus sampling (default 1.0: off; Qwen3 thinking: 0.95)")
    reason.add_argument("--top-k", type=int, default=0,
                        help="top-k sampling (default 0: off; Qwen3 thinking: 20)")
    reason.add_argument("--batch-size", type=int, default=16, help="prompts a generation batch")
    reason.add_argument("--dtype", default="auto", help="auto, float32, bfloat16 or float16")
    reason.add_argument("--out", help="write accuracies and per-item predictions to this JSON")
    reason.set_defaults(func=evaluations.eval_reasoning)
    study = sub.add_parser("study", help="studies of a critic: rationale (intervention)")
    study.add_argument("name", choices=["rationale"], help="which study")
    study.add_argument("config", help="the run's YAML config (its held-out pairs are used)")
    study.add_argument("overrides", nargs="*", help="config overrides, e.g. eval.max_pairs=100")
    study.add_argument("--model", action="append",
                       help="checkpoint, embedded id or hub id (repeat for several; default: "
                            "the config's model)")
    study.add_argument("--max-new-tokens", type=int, default=None,
                       help="length of the model's own reasoning (default: "
                            "critic.max_new_tokens); sampling follows the config's eval section")
    study.add_argument("--out", help="also write the results to this JSON file")
    study.set_defaults(func=evaluations.study)


def _add_tools(sub: argparse._SubParsersAction) -> None:
    """`config`, `export-pairs`, `push` and `envs`: looking at and moving what a run is made of."""
    shown = sub.add_parser("config", help="print the resolved config: every key, default and doc")
    shown.add_argument("config", nargs="?", help="YAML config file (none: the defaults)")
    shown.add_argument("overrides", nargs="*", help="config overrides, e.g. act.max_steps=5")
    shown.set_defaults(func=_config)
    export = sub.add_parser("export-pairs",
                            help="a run's pairs as TRL preference data (prompt/chosen/rejected)")
    export.add_argument("config", help="the run's YAML config")
    export.add_argument("overrides", nargs="*", help="config overrides")
    export.add_argument("--out", required=True, help="JSONL file to write")
    export.add_argument("--split", default="train", choices=["train", "id_test"],
                        help="training or held-out pairs (default: train)")
    export.add_argument("--as", dest="role", default="actor", choices=["actor", "critic"],
                        help="actor: expert vs alternative action; critic: the judgment's "
                             "answers, both orders (default: actor)")
    export.set_defaults(func=_export_pairs)
    pusher = sub.add_parser("push", help="upload a checkpoint and its model card to the Hub")
    pusher.add_argument("checkpoint", help="a checkpoint folder (runs/<name>/seed0/act/checkpoint)")
    pusher.add_argument("--repo", required=True, help="Hub repository id, e.g. you/act-twc")
    pusher.add_argument("--private", action="store_true", help="create the repository private")
    pusher.add_argument("--dry-run", action="store_true",
                        help="list the files it would upload; upload nothing")
    pusher.set_defaults(func=_push)
    envs = sub.add_parser("envs", help="registered environments and whether they run here")
    envs.add_argument("config", nargs="?", help="a config whose env.entry_point to include")
    envs.add_argument("overrides", nargs="*", help="config overrides")
    envs.set_defaults(func=_envs)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="actrain", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    # in the order `actrain --help` lists the commands
    for add in (_add_run_commands, _add_checkpoint_evals, _add_plan, _add_reasoning_and_study,
                _add_tools):
        add(sub)
    for command in sub.choices.values():
        command.add_argument("--debug", action="store_true",
                             help="show an error's full traceback instead of one line")
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """argparse, with `key=value` overrides accepted anywhere after the command: argparse alone
    stops collecting positionals at the first flag (`run cfg --until pairs name=x`)."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    overrides = [item for item in extra if "=" in item and not item.startswith("-")]
    rest = [item for item in extra if item not in overrides]
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    config = getattr(args, "config", None)  # optional for `config` and `envs`: an override?
    if args.command in ("config", "envs") and config and "=" in config \
            and not Path(config).exists():
        args.config, args.overrides = None, [config, *args.overrides]
    if overrides:
        if not hasattr(args, "overrides"):
            parser.error(f"`actrain {args.command}` takes no config overrides: "
                         f"{' '.join(overrides)}")
        args.overrides = [*args.overrides, *overrides]
    args.command_line = "actrain " + " ".join(sys.argv[1:] if argv is None else argv)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format=logs.FORMAT, datefmt=logs.DATE_FORMAT)
    logs.one_copy_under_launch()
    logging.getLogger("py4j").setLevel(logging.CRITICAL)  # JVM shutdown chatter
    warnings.filterwarnings("ignore", message=".*gradient_checkpointing.*", category=FutureWarning)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        args.func(args)
    except ActrainError as exc:
        if args.debug:
            raise
        print(f"actrain: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("actrain: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    except Exception as exc:  # anything else: one line, and the traceback on request
        if args.debug:
            raise
        first = (str(exc).strip().splitlines() or [""])[0]
        print(f"actrain: error: {type(exc).__name__}: {first} (run again with --debug for the "
              "traceback)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
