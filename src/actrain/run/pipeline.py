"""The stage graph: collect -> pairs -> training stages -> evaluations -> report.

A *method* is a list of training stages joined by "_" (`act_il_rl` = ACT, then IL, then RL;
`prompt` trains nothing). `act` trains the critic with `act.objective`; `act-grpo`, `act-sft` and
`act-dpo` name the objective, so one comparison can hold GRPO and its supervised ablations
(`act-sft_il` = SFT on the choice, then IL). Methods that share a prefix share its checkpoint:
`act`, `act_il` and `act_il_rl` train ACT once per seed, `il_il` reuses `il`. Every method of a
run uses the same trajectories and pairs.

Every step writes its output atomically and records a fingerprint of what produced it in
`stages.json` (`run/keys.py`). A step whose output exists with the same fingerprint is skipped,
so an interrupted run continues where it stopped and changing one key re-runs only what depends
on it.

Where each part lives: the run's shared state is `RunContext` (run/context.py); the data steps
are a table (run/step_table.py) of functions (run/data_steps.py); a training stage is looked up
in `stages/registry.py`; the evaluations are run/eval_steps.py. This class puts them in order.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from actrain.config.schema import RunConfig, to_dict
from actrain.errors import ActrainError
from actrain.run import data_steps, eval_steps
from actrain.run.context import RunContext
from actrain.run.keys import RunKeys
from actrain.run.layout import RunLayout
from actrain.run.results import gather_results
from actrain.run.step_table import DATA_STEPS, STEP, DataStep, wanted
from actrain.runtime import distributed
from actrain.runtime.io import (
    read_jsonl,
    read_outcomes,
    read_pairs,
    read_rationales,
    read_trajectories,
    write_json,
)
from actrain.runtime.release import release
from actrain.stages import registry
from actrain.stages.inputs import critic_prefix, method_stages, rollout_reasoning, stage_inputs

log = logging.getLogger("actrain")

STAGES = ("collect", "pairs", "train", "evaluate", "report")


class RunData:
    """A run's data files as a training stage reads them (`registry.StageData`), each loaded
    only when the stage asks for it."""

    def __init__(self, layout: RunLayout) -> None:
        self.layout = layout

    def trajectories(self) -> list[Any]:
        return read_trajectories(self.layout.train_traj)

    def train_pairs(self) -> list[Any]:
        return read_pairs(self.layout.train_pairs)

    def eval_pairs(self) -> list[Any]:
        return read_pairs(self.layout.eval_pairs)

    def hard_pairs(self) -> list[Any]:
        hard = self.layout.hard_pairs
        return read_pairs(hard) if hard.exists() else []

    def outcomes(self) -> list[Any]:
        return read_outcomes(self.layout.train_outcomes)

    def rationales(self) -> list[Any]:
        return read_rationales(self.layout.train_rationales)


class Pipeline:
    """Runs `methods` x `seeds` for one config inside `config.run_dir`, filling the folder that
    `RunLayout` (run/layout.py) describes.

    `actrain run` uses the config's `pipeline` and `seed` (plus `prompt`, the untrained model, as
    the reference row); `actrain compare` uses `compare.methods` x `compare.seeds`.
    """

    def __init__(self, config: RunConfig, methods: Sequence[str] | None = None,
                 seeds: Sequence[int] | None = None) -> None:
        self.ctx = RunContext.open(config, methods, seeds)

    # -- what the run is --------------------------------------------------------------------
    @property
    def config(self) -> RunConfig:
        return self.ctx.config

    @property
    def layout(self) -> RunLayout:
        return self.ctx.layout

    @property
    def keys(self) -> RunKeys:
        return self.ctx.keys

    @property
    def methods(self) -> list[str]:
        return self.ctx.methods

    @property
    def seeds(self) -> list[int]:
        return self.ctx.seeds

    @property
    def command(self) -> str:
        return self.ctx.command

    @command.setter
    def command(self, value: str) -> None:
        self.ctx.command = value

    def needs(self, data: str) -> bool:
        """Whether a training stage of the run reads data step `data`'s output, or that of a
        step after it (rationales need outcomes, which need pairs)."""
        return wanted(STEP[data], self.config, self.ctx.stages())

    # -- models -----------------------------------------------------------------------------
    def load_model(self, name: str, for_training: bool = False) -> tuple[Any, Any]:
        return self.ctx.models.load_model(name, for_training)

    def base_model(self) -> tuple[Any, Any]:
        return self.ctx.models.base()

    def release_generators(self) -> None:
        self.ctx.models.release()

    # -- data -------------------------------------------------------------------------------
    def data_step(self, step: DataStep) -> None:
        """Run one row of the step table, if the run needs it and its output is not current."""
        if not wanted(step, self.config, self.ctx.stages()):
            return
        work = getattr(data_steps, step.work)
        self.ctx.run_step(step.name, self.keys.data_key(step.id),
                          step.outputs(self.layout, self.config), lambda: work(self.ctx))

    def collect(self) -> None:
        self.data_step(STEP["collect"])

    def next_action_states(self) -> None:
        self.data_step(STEP["next_action"])

    def pairs(self) -> None:
        self.data_step(STEP["pairs"])

    def hard_set(self) -> None:
        self.data_step(STEP["hard"])

    def outcomes(self) -> None:
        self.data_step(STEP["outcomes"])

    def rationales(self) -> None:
        self.data_step(STEP["rationales"])

    # -- training ---------------------------------------------------------------------------
    def train(self, seed: int, prefix: tuple[str, ...]) -> None:
        """Train the last stage of `prefix` from the checkpoint of the stages before it."""
        layout = self.layout
        key = self.keys.checkpoint_key(seed, prefix)
        out = layout.stage_dir(seed, prefix)
        ckpt = layout.checkpoint_id(seed, prefix)

        def work() -> None:
            # TRL checkpoints from an interrupted run resume only the very same configuration.
            marker = out / "trainer" / "actrain-fingerprint"
            if distributed.is_main():
                if marker.exists() and marker.read_text() != key:
                    shutil.rmtree(out / "trainer")
                marker.parent.mkdir(parents=True, exist_ok=True)
                marker.write_text(key)
            distributed.barrier()
            inputs = stage_inputs(self.config, prefix[-1], seed)
            inputs = _named(inputs, f"{self.config.tracking_name}/{ckpt}")
            from actrain.stages.trl_args import trl_args

            self.release_generators()  # the memory is the trainer's now
            # Built before the model loads and kept alive while it does: under DeepSpeed ZeRO-3
            # (zero3_init_flag) from_pretrained then partitions the weights as they load instead
            # of every process materialising the whole model first.
            args = trl_args(inputs, prefix[-1], str(out / "trainer"))
            model, tokenizer = self.load_model(self.training_base(seed, prefix[:-1], args),
                                               for_training=True)
            with self.ctx.tracker.training(ckpt):
                self._train_stage(model, tokenizer, inputs, out)
            del model, args
            release(after_training=True)  # models loaded from here on are whole again
            if distributed.is_main():
                self.write_card(seed, prefix)
            curve = out / "critic_curve.jsonl"
            if curve.exists():  # ACT's held-out curve (act.eval_every)
                self.ctx.tracker.log_rows(ckpt, [(row["step"], {"heldout_critic": row})
                                                 for row in read_jsonl(curve)])

        self.ctx.run_step(f"train {ckpt}", key, [out / "checkpoint"], work)

    def training_base(self, seed: int, prefix: tuple[str, ...], args: Any) -> str:
        """The folder a stage trains from: the checkpoint of `prefix`, or, where that is a LoRA
        adapter and the stage starts TRL's colocated vLLM engine (which loads the model's own
        folder, and cannot load an adapter), the adapter merged onto its base on disk."""
        from actrain.runtime.models import is_adapter, merged_adapter, save_model_folder

        checkpoint = self.layout.checkpoint(seed, prefix)
        colocated = getattr(args, "use_vllm", False) and getattr(args, "vllm_mode", "") == \
            "colocate"
        if not (colocated and is_adapter(checkpoint)):
            return checkpoint
        full = self.layout.full_weights(seed, prefix)
        if distributed.is_main():  # remade each time: the adapter may have been retrained
            save_model_folder(*merged_adapter(checkpoint), full)
        distributed.barrier()
        return str(full)

    def _train_stage(self, model: Any, tokenizer: Any, inputs: Any, out: Path) -> None:
        """The stage `inputs` are for (`stages/registry.py`), on the data it reads."""
        stage = registry.get(inputs.trainer.stage)
        stage.train(model, tokenizer, inputs, RunData(self.layout), out)

    # -- evaluation -------------------------------------------------------------------------
    def evaluate_critic(self, seed: int, prefix: tuple[str, ...]) -> None:
        eval_steps.evaluate_critic(self.ctx, seed, prefix)

    def evaluate_agent(self, seed: int, prefix: tuple[str, ...],
                       thinking: bool | None = None) -> None:
        eval_steps.evaluate_agent(self.ctx, seed, prefix, thinking)

    def evaluate(self, seed: int, method: str) -> None:
        prefix = method_stages(method)
        critic = critic_prefix(prefix)
        if critic:
            self.evaluate_critic(seed, ())
            self.evaluate_critic(seed, critic)
        if self.config.rollout.enabled:
            self.evaluate_agent(seed, prefix, rollout_reasoning(method))

    def write_card(self, seed: int, prefix: tuple[str, ...]) -> None:
        """The checkpoint's model card, with what the run has measured of it so far."""
        from actrain.report.model_cards import write_checkpoint_card

        write_checkpoint_card(self.layout, self.config, seed, prefix, self.command)

    # -- results ----------------------------------------------------------------------------
    def results(self) -> dict[str, Any]:
        """Everything measured so far, by method and seed: the input of the report."""
        return gather_results(self.layout, self.methods, self.seeds, self.ctx.book.entries)

    def report(self) -> Path:
        from actrain.report.agent import aggregate
        from actrain.report.markdown import write_report

        results = self.results()
        results["table"] = aggregate(results)
        write_json(self.layout.results_file, results)
        if not distributed.is_main():  # one process writes the report and its plots
            distributed.barrier()
            return self.layout.report_file
        path = write_report(self.layout.dir, results)
        for seed in self.seeds:  # every trained checkpoint's card, with its figures
            for prefix in dict.fromkeys(method_stages(m)[:i] for m in self.methods
                                        for i in range(1, len(method_stages(m)) + 1)):
                self.write_card(seed, prefix)
        distributed.barrier()
        return path

    def check(self) -> None:
        """Refuse, before anything is written, what would fail later (run/preflight.py)."""
        from actrain.run.preflight import check_run

        check_run(self.ctx)

    def run(self, until: str | None = None) -> None:
        if until is not None and until not in STAGES:
            raise ActrainError(f"--until must be one of {', '.join(STAGES)}")
        self.check()
        write_json(self.layout.config_file, to_dict(self.config))
        for phase in ("collect", "pairs"):
            for step in DATA_STEPS:
                if step.phase == phase:
                    self.data_step(step)
            if until == phase:
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
        self.release_generators()  # a Python caller's process goes on without the engines


def _named(inputs: Any, run_name: str) -> Any:
    """`inputs` with the trackers' name of the stage's run."""
    import dataclasses

    return dataclasses.replace(inputs, trainer=dataclasses.replace(inputs.trainer,
                                                                   run_name=run_name))

