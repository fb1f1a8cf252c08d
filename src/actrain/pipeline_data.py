"""The data steps of a run: expert trajectories, pairs, and (Early Experience) the pairs'
outcomes and the teacher's rationales."""

from __future__ import annotations

from pathlib import Path

from actrain import distributed
from actrain.errors import ActrainError
from actrain.io import read_jsonl, read_pairs, read_trajectories, write_json, write_jsonl
from actrain.pipeline_base import RunSteps


class DataSteps(RunSteps):
    """collect -> pairs -> outcomes -> rationales, each skipped when its output is current."""

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
                                            workers=distributed.node_share(c.data.collect_workers))

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

