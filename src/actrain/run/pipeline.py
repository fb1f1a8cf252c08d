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
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
from pathlib import Path
from typing import Any

from actrain.config.schema import to_dict
from actrain.errors import ActrainError
from actrain.run.data_steps import DataSteps
from actrain.run.results import gather_results
from actrain.runtime import distributed
from actrain.runtime.io import (
    read_jsonl,
    read_pairs,
    read_trajectories,
    write_json,
    write_jsonl,
)
from actrain.runtime.release import release
from actrain.stages.inputs import (
    ACTInputs,
    ILInputs,
    IWMInputs,
    SRInputs,
    critic_prefix,
    method_stages,
    rollout_reasoning,
    stage_inputs,
)

log = logging.getLogger("actrain")

STAGES = ("collect", "pairs", "train", "evaluate", "report")


class Pipeline(DataSteps):
    """Runs `methods` x `seeds` for one config inside `config.run_dir`, filling the folder that
    `RunLayout` (run/layout.py) describes.

    `actrain run` uses the config's `pipeline` and `seed` (plus `prompt`, the untrained model, as
    the reference row); `actrain compare` uses `compare.methods` x `compare.seeds`.
    """

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

            self.release_generators()  # the memory is the trainer's now
            # Built before the model loads and kept alive while it does: under DeepSpeed ZeRO-3
            # (zero3_init_flag) from_pretrained then partitions the weights as they load instead
            # of every process materialising the whole model first.
            args = trl_args(inputs, stage, str(out / "trainer"))
            model, tokenizer = self.load_model(self.training_base(seed, prefix[:-1], args),
                                               for_training=True)
            with self.tracker.training(ckpt):
                self._train_stage(model, tokenizer, inputs, out)
            del model, args
            release(after_training=True)  # models loaded from here on are whole again
            if distributed.is_main():
                self.write_card(seed, prefix)
            curve = out / "critic_curve.jsonl"
            if curve.exists():  # ACT's held-out curve (act.eval_every)
                self.tracker.log_rows(ckpt, [(row["step"], {"heldout_critic": row})
                                             for row in read_jsonl(curve)])

        self._run(f"train {ckpt}", key, [out / "checkpoint"], work)

    def training_base(self, seed: int, prefix: tuple[str, ...], args: Any) -> str:
        """The folder a stage trains from: the checkpoint of `prefix`, or, where that is a LoRA
        adapter and the stage starts TRL's colocated vLLM engine (which loads the model's own
        folder, and cannot load an adapter), the adapter merged onto its base on disk."""
        from actrain.runtime.models import is_adapter, merged_adapter, save_model_folder

        checkpoint = self.checkpoint(seed, prefix)
        colocated = getattr(args, "use_vllm", False) and getattr(args, "vllm_mode", "") == \
            "colocate"
        if not (colocated and is_adapter(checkpoint)):
            return checkpoint
        full = self.full_weights(seed, prefix)
        if distributed.is_main():  # remade each time: the adapter may have been retrained
            save_model_folder(*merged_adapter(checkpoint), full)
        distributed.barrier()
        return str(full)

    def _train_stage(self, model: Any, tokenizer: Any, inputs: Any, out: Path) -> None:
        """The stage `inputs` are for, on the data it reads."""
        if isinstance(inputs, ACTInputs):
            from actrain.data.alternatives import first_pairs_per_state
            from actrain.stages.act import run_act

            train = first_pairs_per_state(read_pairs(self.train_pairs),
                                          inputs.act.pairs_per_state)
            run_act(model, tokenizer, train, read_pairs(self.eval_pairs), inputs, out)
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
        """The checkpoint judged on the run's held-out pairs, then on the hard critic set."""
        ckpt = self.checkpoint_id(seed, prefix)
        self._judge(seed, prefix, self.eval_pairs, self.critic_file(ckpt), "critic",
                    self.keys.critic_key(seed, prefix), self.config.eval, "critic", "")
        if self.hard_pairs.exists():
            self._judge(seed, prefix, self.hard_pairs, self.hard_critic_file(ckpt), "hard critic",
                        self.keys.hard_critic_key(seed, prefix),
                        dataclasses.replace(self.config.eval, max_pairs=0),  # all of them
                        "critic_hard", " on the hard set")

    def _judge(self, seed: int, prefix: tuple[str, ...], pairs: Path, out: Path, step: str,
               key: str, evaluation: Any, tracked: str, which: str) -> None:
        """One critic evaluation step: `out` (metrics) and its predictions beside it, logged to
        the trackers as `tracked`."""
        ckpt = self.checkpoint_id(seed, prefix)

        def work() -> None:
            from actrain.envs import instructions_of
            from actrain.eval.critic import evaluate_critic

            with self.loaded(seed, prefix) as (model, tokenizer):
                metrics, predictions = evaluate_critic(
                    model, tokenizer, read_pairs(pairs), self.config.critic, evaluation,
                    self.config.dtype, self.config.seed,
                    instructions=instructions_of(self.config.env),
                )
                del model  # the block's end can then free it
            write_jsonl(self.predictions_file(out), predictions)
            write_json(out, metrics)
            self.tracker.log(ckpt, {tracked: metrics})
            log.info("critic %s%s: balanced accuracy %.3f", ckpt, which,
                     metrics["balanced_accuracy"] or 0)

        self._run(f"{step} {ckpt}", key, [out], work)

    def evaluate_agent(self, seed: int, prefix: tuple[str, ...],
                       thinking: bool | None = None) -> None:
        """Roll the checkpoint out; `thinking` True (a `-cot` method) has it reason first, False
        (a `-direct` method) act at once, None as `data.actor_reasoning` says.

        Its next action is also measured at every held-out expert state of each split
        (`rollout.next_action_states`; 0: the `id_test` trajectories), each state's in
        `agent/<id>.next_action.jsonl`. That file is an output of the step, so an agent measured
        before it existed is measured again."""
        c = self.config
        agent = self.agent_id(seed, prefix, thinking)
        key = self.keys.agent_key(seed, prefix, thinking)
        per_split = c.rollout.next_action_states > 0

        def work() -> None:
            from actrain.eval.agent_settings import agent_settings
            from actrain.eval.next_action import (
                next_action_by_split,
                next_action_records,
                next_action_summary,
            )
            from actrain.eval.rollouts import evaluate_agent

            if per_split:
                missing = [str(self.next_action_traj(split)) for split in c.rollout.splits
                           if not self.next_action_traj(split).exists()]
                if missing:
                    raise ActrainError(f"no held-out next-action states ({', '.join(missing)}): "
                                       f"the collect step gathers them")
                states = {split: read_trajectories(self.next_action_traj(split))
                          for split in c.rollout.splits}
            else:
                states = {"id_test": read_trajectories(self.eval_traj)}
            with self.loaded(seed, prefix) as (model, tokenizer):
                summary, episodes = evaluate_agent(model, tokenizer, c, seed, thinking)
                records = next_action_records(model, tokenizer, states,
                                              agent_settings(c, seed, thinking))
                del model  # the block's end can then free it
            summary["next_action"] = (next_action_by_split(records, list(states)) if per_split
                                      else next_action_summary(records))
            write_jsonl(self.episodes_file(agent), episodes)
            write_jsonl(self.next_action_file(agent), records)
            write_json(self.agent_file(agent), {"checkpoint": self.checkpoint(seed, prefix),
                                                **summary})
            measured = {k: v for k, v in summary.items() if k != "protocol"}
            self.tracker.log(agent, {"agent": measured})
            log.info("agent %s: %s", agent, ", ".join(_agent_line(summary, s)
                                                      for s in c.rollout.splits))

        self._run(f"agent {agent}", key, [self.agent_file(agent), self.next_action_file(agent)],
                  work)

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

        write_checkpoint_card(self, seed, prefix, self.command)

    # -- results ----------------------------------------------------------------------------
    def results(self) -> dict[str, Any]:
        """Everything measured so far, by method and seed: the input of the report."""
        return gather_results(self, self.methods, self.seeds, self.book.entries)

    def report(self) -> Path:
        from actrain.report.agent import aggregate
        from actrain.report.markdown import write_report

        results = self.results()
        results["table"] = aggregate(results)
        write_json(self.results_file, results)
        if not distributed.is_main():  # one process writes the report and its plots
            distributed.barrier()
            return self.report_file
        path = write_report(self.dir, results)
        for seed in self.seeds:  # every trained checkpoint's card, with its figures
            for prefix in dict.fromkeys(method_stages(m)[:i] for m in self.methods
                                        for i in range(1, len(method_stages(m)) + 1)):
                self.write_card(seed, prefix)
        distributed.barrier()
        return path

    def check(self) -> None:
        """Refuse, before anything is written, what would fail later (run/preflight.py)."""
        from actrain.run.preflight import check_run

        check_run(self)

    def run(self, until: str | None = None) -> None:
        if until is not None and until not in STAGES:
            raise ActrainError(f"--until must be one of {', '.join(STAGES)}")
        self.check()
        write_json(self.config_file, to_dict(self.config))
        self.collect()
        self.next_action_states()
        if until == "collect":
            return
        self.pairs()
        self.hard_set()
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
        self.release_generators()  # a Python caller's process goes on without the engines


def _agent_line(summary: dict[str, Any], split: str) -> str:
    """A split's figures for the progress log: success over its episodes, and the next-action
    accuracy where it was measured (`rollout.episodes: 0` plays none)."""
    parts = []
    if "success_rate" in summary[split]:
        parts.append(f"success {summary[split]['success_rate']:.2f}")
    nxt = summary.get("next_action", {}).get(split)
    if isinstance(nxt, dict) and nxt.get("accuracy") is not None:
        parts.append(f"next action {nxt['accuracy']:.2f}")
    return f"{split} " + " ".join(parts or ["-"])
