"""Command line: `actrain run CONFIG [key=value ...]`, `actrain envs`."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from actrain.errors import ActrainError


def _run(args: argparse.Namespace) -> None:
    from actrain.config import load_config
    from actrain.pipeline import STAGES, Pipeline

    config = load_config(args.config, args.overrides)
    if args.until and args.until not in STAGES:
        raise ActrainError(f"--until must be one of {', '.join(STAGES)}")
    pipeline = Pipeline(config)
    pipeline.run(until=args.until)
    report = config.run_dir / "report.md"
    if report.exists():
        print(f"report: {report}")


def _envs(_: argparse.Namespace) -> None:
    from actrain.envs import registered_ids

    print("\n".join(registered_ids()))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="actrain", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the ACT pipeline of a config into runs/<name>/")
    run.add_argument("config", help="YAML config file")
    run.add_argument("overrides", nargs="*", help="config overrides, e.g. act.max_steps=5")
    run.add_argument("--until", help="stop after this stage")
    run.set_defaults(func=_run)
    envs = sub.add_parser("envs", help="list registered environment ids")
    envs.set_defaults(func=_envs)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    logging.getLogger("py4j").setLevel(logging.CRITICAL)  # JVM shutdown chatter
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        args.func(args)
    except ActrainError as exc:
        print(f"actrain: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("actrain: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
