"""The stage graph: collect -> pairs -> training stages -> evaluations -> report.

A *method* is a list of training stages joined by "_" (`act_il_rl` = ACT, then IL, then RL;
`prompt` trains nothing). `act` trains the critic with `act.objective`; `act-grpo`, `act-sft` and
`act-dpo` name the objective, so one comparison can hold GRPO and its supervised ablations
(`act-sft_il` = SFT on the choice, then IL). Methods that share a prefix share its checkpoint:
`act`, `act_il` and `act_il_rl` train ACT once per seed, `il_il` reuses `il`. Every method of a
run uses the same trajectories and pairs.

Every step writes its output atomically and records a fingerprint of what produced it in
`stages.json` (`run_keys.py`). A step whose output exists with the same fingerprint is skipped,
so an interrupted run continues where it stopped and changing one key re-runs only what depends
on it.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from actrain import distributed
from actrain.config import RunConfig, to_dict
from actrain.errors import ActrainError
from actrain.io import (
    read_jsonl,
    read_pairs,
    read_trajectories,
    write_json,
    write_jsonl,
)
from actrain.methods import (
    ACTInputs,
    ILInputs,
    IWMInputs,
    SRInputs,
    critic_prefix,
    data_of,
    method_stages,
    rolls_out_thinking,
    stage_inputs,
)
from actrain.results import gather_results
from actrain.run_keys import RunKeys, StageBook
from actrain.run_layout import RunLayout
from actrain.tracking import Tracker

log = logging.getLogger("actrain")

STAGES = ("collect", "pairs", "train", "evaluate", "report")


class Pipeline(RunLayout):
    """Runs `methods` x `seeds` for one config inside `config.run_dir`, filling the folder that
    `RunLayout` (run_layout.py) describes.

    `actrain run` uses the config's `pipeline` and `seed` (plus `prompt`, the untrained model, as
    the reference row); `actrain compare` uses `compare.methods` x `compare.seeds`.
    """

    def __init__(
        self, config: RunConfig, methods: Sequence[str] | None = None,
        seeds: Sequence[int] | None = None,
    ) -> None:
        from actrain.device import resolve_device, resolve_dtype

        distributed.init()  # under `accelerate launch`: join the process group first
        config.device = resolve_device(config.device)
        config.dtype = resolve_dtype(config.dtype, config.device)
        super().__init__(config)
        self.methods = list(dict.fromkeys(methods or ["prompt", config.pipeline]))
        for method in self.methods:
            method_stages(method)
        self.seeds = list(dict.fromkeys(seeds if seeds is not None else [config.seed]))
        if not self.seeds:
            raise ActrainError("no seeds to run")
        self.book = StageBook(self.dir)
        self.keys = RunKeys(config)
        self._base: tuple[Any, Any] | None = None
        # Only the main process reports to the trackers (TRL does the same for training).
        self.tracker = Tracker(config.report_to if distributed.is_main() else [], self.dir,
                               config.tracking_name)
        if config.threads:
            torch.set_num_threads(config.threads)

    @property
    def uses_act(self) -> bool:
        return any(critic_prefix(method_stages(m)) for m in self.methods)

    def needs(self, data: str) -> bool:
        """Whether a training stage of the run reads `data` (pairs, outcomes, rationales);
        rationales need outcomes, which need pairs."""
        chain = {"pairs": ("pairs", "outcomes", "rationales"), "outcomes": ("outcomes",
                 "rationales"), "rationales": ("rationales",)}[data]
        return any(data_of(stage) in chain for m in self.methods for stage in method_stages(m))

    # -- helpers ----------------------------------------------------------------------------
    def load_model(self, name: str, for_training: bool = False) -> tuple[Any, Any]:
        """A model and tokenizer on the run's device, dtype and chat template settings."""
        from actrain.models import load_model

        c = self.config
        four_bit = for_training and c.peft.enabled and c.peft.load_in_4bit
        return load_model(name, c.dtype, c.device, c.chat_template_kwargs, four_bit)

    def generator(self, name: str) -> tuple[Any, Any]:
        """What generates outside training: the HF model, or a vLLM engine on its weights."""
        c = self.config
        if c.generation.backend == "hf":
            return self.load_model(name)
        from actrain.models import load_tokenizer, resolve_model_path
        from actrain.prompts import set_chat_template_kwargs
        from actrain.vllm_engine import VLLMEngine

        engine = VLLMEngine(resolve_model_path(name), c.dtype, c.seed,
                            c.generation.gpu_memory_utilization, c.generation.max_model_len)
        tokenizer = load_tokenizer(name)
        set_chat_template_kwargs(tokenizer, c.chat_template_kwargs)
        return engine, tokenizer

    def base_model(self) -> tuple[Any, Any]:
        if self._base is None:
            self._base = self.generator(self.config.model)
        return self._base

    def load(self, seed: int, prefix: tuple[str, ...]) -> tuple[Any, Any]:
        if not prefix:
            return self.base_model()
        return self.generator(self.checkpoint(seed, prefix))

    def _run(self, step: str, key: str, outputs: list[Path], work: Callable[[], None]) -> None:
        if self.book.done(step, key, outputs):
            log.info("%-24s skipped (output up to date)", step)
            return
        log.info("%-24s running", step)
        start = time.time()
        work()
        distributed.barrier()  # launched as several: every process's share is in, files written
        self.book.record(step, key, time.time() - start)  # (written by the main process)
        distributed.barrier()
        log.info("%-24s done in %.0f s", step, time.time() - start)

    # -- data -------------------------------------------------------------------------------
    def collect(self) -> None:
        def work() -> None:
            from actrain.data.offpath import collect_oracle_trajectories
            from actrain.data.trajectories import collect_trajectories
            from actrain.envs import TextEnv, from_config

            c = self.config

            def make_env() -> TextEnv:
                return from_config(c.env)

            if c.data.source not in ("expert", "oracle"):
                raise ActrainError(f"data.source must be 'expert' or 'oracle', got "
                                   f"{c.data.source!r}")

            def collect_split(env: TextEnv, split: str, num_tasks: int, path: Path) -> dict:
                if c.data.source == "oracle":
                    return collect_oracle_trajectories(env, split, num_tasks, path,
                                                       c.data.explore, c.seed)
                return collect_trajectories(env, split, num_tasks, path, make_env=make_env,
                                            workers=c.data.collect_workers)

            with make_env() as env:
                stats = {
                    "train": collect_split(env, "train", c.data.train_tasks, self.train_traj),
                    "id_test": collect_split(env, "id_test", c.data.eval_tasks, self.eval_traj),
                }
            write_json(self.dir / "trajectories" / "stats.json", stats)

        self._run("collect", self.keys.data_key("collect"), [self.train_traj, self.eval_traj], work)

    def pairs(self) -> None:
        if not self.needs("pairs"):
            return

        def work() -> None:
            from actrain.data.pairs import make_pairs

            if self.config.alternatives.pairs_from:
                from actrain.data.reused_pairs import reuse_pairs

                reused, stats = reuse_pairs(self.config.alternatives.pairs_from,
                                            read_trajectories(self.train_traj),
                                            read_trajectories(self.eval_traj))
                write_jsonl(self.train_pairs, reused["train"])
                write_jsonl(self.eval_pairs, reused["id_test"])
                write_json(self.dir / "pairs" / "stats.json", stats)
                self.tracker.log("data", {"pairs": stats})
                return
            policy = self.config.alternatives.policy
            if policy == "base":
                model, tokenizer = self.base_model()
            else:
                model, tokenizer = self.generator(policy)
            stats = {}
            for split, src, dst, both in (
                ("train", self.train_traj, self.train_pairs, False),
                ("id_test", self.eval_traj, self.eval_pairs, True),
            ):
                pairs, stats[split] = make_pairs(
                    model, tokenizer, read_trajectories(src), self.config, both_orders=both,
                    seed=self.config.seed + (0 if split == "train" else 1),
                )
                write_jsonl(dst, pairs)
            write_json(self.dir / "pairs" / "stats.json", stats)
            self.tracker.log("data", {"pairs": stats})

        self._run("pairs", self.keys.data_key("pairs"), [self.train_pairs, self.eval_pairs], work)

    def outcomes(self) -> None:
        """Both actions of every training pair played from its state (Early Experience)."""
        if not self.needs("outcomes"):
            return

        def work() -> None:
            from actrain.data.branches import branch_outcomes
            from actrain.envs import from_config

            c = self.config
            if distributed.is_main():  # stepping environments is cheap: one process does it
                with from_config(c.env) as env:
                    records = branch_outcomes(env, read_pairs(self.train_pairs),
                                              read_trajectories(self.train_traj))
                write_jsonl(self.train_outcomes, records)

        self._run("outcomes", self.keys.data_key("outcomes"), [self.train_outcomes], work)

    def rationales(self) -> None:
        """The teacher's rationale for every branched pair (self-reflection's data)."""
        if not self.needs("rationales"):
            return

        def work() -> None:
            from actrain.data.rationales import write_rationales
            from actrain.prompts import ActorView

            c = self.config
            teacher = c.sr.teacher
            model, tokenizer = self.base_model() if teacher == "base" else self.generator(teacher)
            records, stats = write_rationales(
                model, tokenizer, read_jsonl(self.train_outcomes), ActorView.of(c.data),
                c.sr.max_new_tokens, c.eval.batch_size, c.dtype,
            )
            if distributed.is_main():
                write_jsonl(self.train_rationales, records)
                write_json(self.train_rationales.parent / "stats.json",
                           {**stats, "teacher": c.model if teacher == "base" else teacher})

        self._run("rationales", self.keys.data_key("rationales"), [self.train_rationales], work)

    # -- training ---------------------------------------------------------------------------
    def train(self, seed: int, prefix: tuple[str, ...]) -> None:
        """Train the last stage of `prefix` from the checkpoint of the stages before it."""
        key = self.keys.checkpoint_key(seed, prefix)
        out = self.stage_dir(seed, prefix)
        ckpt = self.checkpoint_id(seed, prefix)

        def work() -> None:
            # TRL checkpoints from an interrupted run resume only the very same configuration.
            marker = out / "trainer" / "actrain-fingerprint"
            if distributed.is_main():
                if marker.exists() and marker.read_text() != key:
                    shutil.rmtree(out / "trainer")
                marker.parent.mkdir(parents=True, exist_ok=True)
                marker.write_text(key)
            distributed.barrier()
            stage = prefix[-1]
            inputs = stage_inputs(self.config, stage, seed)
            inputs = dataclasses.replace(inputs, trainer=dataclasses.replace(
                inputs.trainer, run_name=f"{self.config.tracking_name}/{ckpt}"))
            from actrain.stages.trl_args import trl_args

            # Built before the model loads and kept alive while it does: under DeepSpeed ZeRO-3
            # (zero3_init_flag) from_pretrained then partitions the weights as they load instead
            # of every process materialising the whole model first.
            args = trl_args(inputs, stage, str(out / "trainer"))
            model, tokenizer = self.load_model(self.checkpoint(seed, prefix[:-1]),
                                               for_training=True)
            with self.tracker.training(ckpt):
                self._train_stage(model, tokenizer, inputs, out)
            curve = out / "critic_curve.jsonl"
            if curve.exists():  # ACT's held-out curve (act.eval_every)
                self.tracker.log_rows(ckpt, [(row["step"], {"heldout_critic": row})
                                             for row in read_jsonl(curve)])
            del args

        self._run(f"train {ckpt}", key, [out / "checkpoint"], work)

    def _train_stage(self, model: Any, tokenizer: Any, inputs: Any, out: Path) -> None:
        """The stage `inputs` are for, on the data it reads."""
        if isinstance(inputs, ACTInputs):
            from actrain.stages.act import run_act

            run_act(model, tokenizer, read_pairs(self.train_pairs),
                    read_pairs(self.eval_pairs), inputs, out)
        elif isinstance(inputs, ILInputs):
            from actrain.stages.il import run_il

            run_il(model, tokenizer, read_trajectories(self.train_traj), inputs, out)
        elif isinstance(inputs, SRInputs):
            from actrain.stages.early_experience import run_sr

            run_sr(model, tokenizer, read_jsonl(self.train_rationales),
                   read_trajectories(self.train_traj), inputs, out)
        elif isinstance(inputs, IWMInputs):
            from actrain.stages.early_experience import run_iwm

            run_iwm(model, tokenizer, read_jsonl(self.train_outcomes), inputs, out)
        else:
            from actrain.stages.rl import run_rl

            run_rl(model, tokenizer, read_trajectories(self.train_traj), inputs, out)

    # -- evaluation -------------------------------------------------------------------------
    def evaluate_critic(self, seed: int, prefix: tuple[str, ...]) -> None:
        ckpt = self.checkpoint_id(seed, prefix)
        key = self.keys.critic_key(seed, prefix)

        def work() -> None:
            from actrain.evaluate import evaluate_critic

            model, tokenizer = self.load(seed, prefix)
            metrics, predictions = evaluate_critic(
                model, tokenizer, read_pairs(self.eval_pairs), self.config.critic,
                self.config.eval, self.config.dtype, self.config.seed,
            )
            write_jsonl(self.dir / "critic" / f"{ckpt}.predictions.jsonl", predictions)
            write_json(self.critic_file(ckpt), metrics)
            self.tracker.log(ckpt, {"critic": metrics})
            log.info("critic %s: balanced accuracy %.3f", ckpt, metrics["balanced_accuracy"] or 0)

        self._run(f"critic {ckpt}", key, [self.critic_file(ckpt)], work)

    def evaluate_agent(self, seed: int, prefix: tuple[str, ...], thinking: bool = False) -> None:
        """Roll the checkpoint out; `thinking` (a `-cot` method) has it reason first."""
        c = self.config
        agent = self.agent_id(seed, prefix, thinking)
        key = self.keys.agent_key(seed, prefix, thinking)

        def work() -> None:
            from actrain.rollouts import evaluate_agent

            model, tokenizer = self.load(seed, prefix)
            summary, episodes = evaluate_agent(model, tokenizer, c, seed, thinking,
                                               read_trajectories(self.eval_traj))
            write_jsonl(self.dir / "agent" / f"{agent}.episodes.jsonl", episodes)
            write_json(self.agent_file(agent), {"checkpoint": self.checkpoint(seed, prefix),
                                                **summary})
            measured = {k: v for k, v in summary.items() if k != "protocol"}
            self.tracker.log(agent, {"agent": measured})
            log.info("agent %s: %s", agent, ", ".join(
                f"{s} success {summary[s]['success_rate']:.2f}" for s in c.rollout.splits))

        self._run(f"agent {agent}", key, [self.agent_file(agent)], work)

    def evaluate(self, seed: int, method: str) -> None:
        prefix = method_stages(method)
        critic = critic_prefix(prefix)
        if critic:
            self.evaluate_critic(seed, ())
            self.evaluate_critic(seed, critic)
        if self.config.rollout.enabled:
            self.evaluate_agent(seed, prefix, rolls_out_thinking(method))

    # -- results ----------------------------------------------------------------------------
    def results(self) -> dict[str, Any]:
        """Everything measured so far, by method and seed: the input of the report."""
        return gather_results(self, self.methods, self.seeds, self.book.entries)

    def report(self) -> Path:
        from actrain.agent_report import aggregate
        from actrain.report import write_report

        results = self.results()
        results["table"] = aggregate(results)
        write_json(self.dir / "results.json", results)
        if not distributed.is_main():  # one process writes the report and its plots
            distributed.barrier()
            return self.dir / "report.md"
        path = write_report(self.dir, results)
        distributed.barrier()
        return path

    def check(self) -> None:
        """Refuse, before anything is written, what would fail later: an unknown environment,
        a model that cannot be found, a training section TRL would reject."""
        import tempfile

        from actrain.envs.base import use_entry_point
        from actrain.models import resolve_model_path
        from actrain.plugins import load_reward
        from actrain.stages.trl_args import trl_args
        from actrain.tracking import check_trackers

        c = self.config
        use_entry_point(c.env)
        check_trackers(c.report_to)
        resolve_model_path(c.model)
        k = c.critic.candidates
        if k > 2 and self.uses_act and c.alternatives.per_state < k - 1:
            raise ActrainError(f"critic.candidates {k} needs alternatives.per_state >= {k - 1} "
                               f"(the K - 1 alternatives of a state), got "
                               f"{c.alternatives.per_state}")
        if c.alternatives.pairs_from:
            from actrain.data.reused_pairs import pairs_folder

            pairs_folder(c.alternatives.pairs_from)
        elif self.needs("pairs") and c.alternatives.policy != "base":
            resolve_model_path(c.alternatives.policy)
        stages = {stage for method in self.methods for stage in method_stages(method)}
        for section, used in (("act", self.uses_act), ("rl", "rl" in stages)):
            path = getattr(c, section).reward
            if used and path:  # a user's reward that would fail at its stage fails now
                load_reward(path, f"{section}.reward")
        with tempfile.TemporaryDirectory() as tmp:
            for stage in sorted(stages):
                trl_args(stage_inputs(dataclasses.replace(c, device="cpu"), stage), stage, tmp)

    def run(self, until: str | None = None) -> None:
        if until is not None and until not in STAGES:
            raise ActrainError(f"--until must be one of {', '.join(STAGES)}")
        self.check()
        write_json(self.dir / "config.json", to_dict(self.config))
        self.collect()
        if until == "collect":
            return
        self.pairs()
        self.outcomes()
        self.rationales()
        if until == "pairs":
            return
        for seed in self.seeds:
            for method in self.methods:
                prefix = method_stages(method)
                for i in range(1, len(prefix) + 1):
                    self.train(seed, prefix[:i])
                if until != "train":
                    self.evaluate(seed, method)
                    self.report()
        if until != "train":
            self.report()
