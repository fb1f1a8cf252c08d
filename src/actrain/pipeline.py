"""The quickstart stage graph: collect -> pairs -> critic eval (base) -> ACT -> critic eval (ACT).

Every stage writes its output atomically and records a fingerprint of what produced it (the
config keys it reads, chained with the fingerprints of the stages it reads from) in
`stages.json`. A stage whose output exists with the same fingerprint is skipped, so an interrupted
run continues from the last finished stage, and changing one key re-runs only what depends on it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from actrain.config import RunConfig, to_dict
from actrain.io import read_json, read_jsonl, write_json, write_jsonl

log = logging.getLogger("actrain")

STAGES = ("collect", "pairs", "eval_base", "act", "eval_act", "report")


def fingerprint(*parts: Any) -> str:
    blob = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


class StageBook:
    """Which stage outputs are done, and from what inputs (`stages.json` in the run folder)."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / "stages.json"
        self.entries: dict[str, Any] = read_json(self.path) if self.path.exists() else {}

    def done(self, stage: str, key: str, outputs: list[Path]) -> bool:
        entry = self.entries.get(stage)
        return bool(entry) and entry["fingerprint"] == key and all(p.exists() for p in outputs)

    def record(self, stage: str, key: str, seconds: float) -> None:
        self.entries[stage] = {"fingerprint": key, "seconds": round(seconds, 1)}
        write_json(self.path, self.entries)


class Pipeline:
    """Runs the quickstart stages for one config inside `config.run_dir`."""

    def __init__(self, config: RunConfig) -> None:
        from actrain.models import resolve_dtype

        config.dtype = resolve_dtype(config.dtype)
        self.config = config
        self.dir = config.run_dir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.book = StageBook(self.dir)
        self._base: tuple[Any, Any] | None = None
        if config.threads:
            torch.set_num_threads(config.threads)

    # -- paths ------------------------------------------------------------------------------
    @property
    def train_traj(self) -> Path:
        return self.dir / "trajectories" / "train.jsonl"

    @property
    def eval_traj(self) -> Path:
        return self.dir / "trajectories" / "id_test.jsonl"

    @property
    def train_pairs(self) -> Path:
        return self.dir / "pairs" / "train.jsonl"

    @property
    def eval_pairs(self) -> Path:
        return self.dir / "pairs" / "id_test.jsonl"

    @property
    def act_dir(self) -> Path:
        return self.dir / "act"

    def critic_file(self, which: str) -> Path:
        return self.dir / "critic" / f"{which}.json"

    # -- helpers ----------------------------------------------------------------------------
    def base_model(self) -> tuple[Any, Any]:
        if self._base is None:
            from actrain.models import load_model

            self._base = load_model(self.config.model, "float32")
        return self._base

    def _run(self, stage: str, key: str, outputs: list[Path], work: Callable[[], None]) -> None:
        if self.book.done(stage, key, outputs):
            log.info("stage %-9s skipped (output up to date)", stage)
            return
        log.info("stage %-9s running", stage)
        start = time.time()
        work()
        self.book.record(stage, key, time.time() - start)
        log.info("stage %-9s done in %.0f s", stage, time.time() - start)

    def key(self, stage: str) -> str:
        """Fingerprint of everything `stage` depends on, upstream stages included."""
        c = self.config
        collect = fingerprint("collect", c.env.id, c.env.kwargs, c.data.train_tasks,
                              c.data.eval_tasks)
        pairs = fingerprint("pairs", collect, c.model, c.seed, c.data.history_len,
                            c.data.show_admissible, asdict(c.alternatives), c.dtype)
        eval_base = fingerprint("eval_base", pairs, c.model, asdict(c.critic), asdict(c.eval),
                                c.dtype)
        act = fingerprint("act", pairs, c.model, asdict(c.critic), asdict(c.act), asdict(c.eval),
                          c.seed, c.dtype)
        eval_act = fingerprint("eval_act", act, asdict(c.eval))
        report = fingerprint("report", eval_base, eval_act)
        return {"collect": collect, "pairs": pairs, "eval_base": eval_base, "act": act,
                "eval_act": eval_act, "report": report}[stage]

    # -- stages -----------------------------------------------------------------------------
    def collect(self) -> None:
        def work() -> None:
            from actrain.data.trajectories import collect_trajectories
            from actrain.envs import make

            with make(self.config.env.id, **self.config.env.kwargs) as env:
                stats = {
                    "train": collect_trajectories(
                        env, "train", self.config.data.train_tasks, self.train_traj
                    ),
                    "id_test": collect_trajectories(
                        env, "id_test", self.config.data.eval_tasks, self.eval_traj
                    ),
                }
            write_json(self.dir / "trajectories" / "stats.json", stats)

        self._run("collect", self.key("collect"), [self.train_traj, self.eval_traj], work)

    def pairs(self) -> None:
        def work() -> None:
            from actrain.data.pairs import make_pairs

            model, tokenizer = self.base_model()
            stats = {}
            for split, src, dst, both in (
                ("train", self.train_traj, self.train_pairs, False),
                ("id_test", self.eval_traj, self.eval_pairs, True),
            ):
                pairs, stats[split] = make_pairs(
                    model, tokenizer, read_jsonl(src), self.config, both_orders=both,
                    seed=self.config.seed + (0 if split == "train" else 1),
                )
                write_jsonl(dst, pairs)
            write_json(self.dir / "pairs" / "stats.json", stats)

        self._run("pairs", self.key("pairs"), [self.train_pairs, self.eval_pairs], work)

    def _eval(self, which: str, model_source: Callable[[], tuple[Any, Any]]) -> None:
        def work() -> None:
            from actrain.evaluate import evaluate_critic

            model, tokenizer = model_source()
            metrics, predictions = evaluate_critic(
                model, tokenizer, read_jsonl(self.eval_pairs), self.config.critic,
                self.config.eval, self.config.dtype,
                self.config.seed,
            )
            write_jsonl(self.dir / "critic" / f"{which}.predictions.jsonl", predictions)
            write_json(self.critic_file(which), metrics)
            log.info("critic %s: %s", which, json.dumps(metrics))

        self._run(f"eval_{which}", self.key(f"eval_{which}"), [self.critic_file(which)], work)

    def eval_base(self) -> None:
        self._eval("base", self.base_model)

    def act(self) -> None:
        def work() -> None:
            import shutil

            from actrain.models import load_model
            from actrain.stages.act import run_act

            # TRL checkpoints from an interrupted run resume only the same ACT configuration.
            key = self.key("act")
            marker = self.act_dir / "trainer" / "actrain-fingerprint"
            if marker.exists() and marker.read_text() != key:
                shutil.rmtree(self.act_dir / "trainer")
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.write_text(key)

            model, tokenizer = load_model(self.config.model, "float32")
            self._base = None  # free the sampling copy; training mutates its own
            run_act(model, tokenizer, read_jsonl(self.train_pairs),
                    read_jsonl(self.eval_pairs), self.config, self.act_dir)

        self._run("act", self.key("act"), [self.act_dir / "checkpoint"], work)

    def eval_act(self) -> None:
        from actrain.models import load_model

        self._eval("act", lambda: load_model(str(self.act_dir / "checkpoint"), "float32"))

    def report(self) -> None:
        def work() -> None:
            from actrain.report import write_report

            write_report(self.dir, self.config)

        self._run("report", self.key("report"), [self.dir / "report.md"], work)

    def run(self, until: str | None = None) -> None:
        write_json(self.dir / "config.json", to_dict(self.config))
        for stage in STAGES:
            getattr(self, stage)()
            if stage == until:
                break
