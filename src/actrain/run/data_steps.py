"""The data steps of a run: expert trajectories, pairs, and (Early Experience) the pairs'
outcomes and the teacher's rationales."""

from __future__ import annotations

from pathlib import Path

from tqdm import tqdm

from actrain.errors import ActrainError
from actrain.run.base import RunSteps
from actrain.runtime import distributed
from actrain.runtime.io import read_jsonl, read_pairs, read_trajectories, write_json, write_jsonl


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
            write_json(self.stats("trajectories"), stats)

        self._run("collect", self.keys.data_key("collect"), [self.train_traj, self.eval_traj], work)

    def next_action_states(self) -> None:
        """Held-out expert states of every rollout split, on which each agent's next action is
        compared with the expert's (`rollout.next_action_states`): a step of its own, with its
        own outputs and fingerprint, so that runs collected before it existed keep theirs."""
        r = self.config.rollout
        if not (r.enabled and r.next_action_states > 0):
            return
        import logging

        from actrain.envs import TextEnv
        from actrain.run.keys import fingerprint

        def states_of(env: TextEnv, split: str) -> tuple[list[dict], dict]:
            """Expert trajectories of the split's tasks, in its order, until at least
            `next_action_states` states (steps of won paths) are gathered."""
            from actrain.data.trajectories import collect_expert_trajectory

            tasks, records, states, played = env.expert_tasks(split), [], 0, 0
            bar = tqdm(total=r.next_action_states, desc=f"next-action states ({split})",
                       unit="state", leave=False)
            while states < r.next_action_states and played < len(tasks):
                chunk = tasks[played : played + 32]
                env.prepare(chunk)  # generated games: made in one batch
                for task in chunk:
                    played += 1
                    record = collect_expert_trajectory(env, task)
                    if record["won"]:  # a lost expert path is no label to measure against
                        records.append(record)
                        states += len(record["steps"])
                        bar.update(len(record["steps"]))
                    if states >= r.next_action_states:
                        break
            bar.close()
            if states < r.next_action_states:
                logging.getLogger("actrain").warning(
                    "split %s has %d expert states in %d tasks, fewer than "
                    "rollout.next_action_states=%d", split, states, len(tasks),
                    r.next_action_states)
            return records, {"tasks": played, "kept": len(records), "states": states}

        def heldout() -> None:
            from actrain.envs import from_config

            if not distributed.is_main():  # replaying expert paths is cheap: one process does it
                return
            stats = {}
            with from_config(self.config.env) as env:
                for split in r.splits:
                    records, stats[split] = states_of(env, split)
                    write_jsonl(self.next_action_traj(split), records)
            write_json(self.stats("next_action"), stats)

        key = fingerprint("next-action states", self.keys.data_key("collect"), list(r.splits),
                          r.next_action_states)
        self._run("next-action states", key, [self.next_action_traj(s) for s in r.splits],
                  heldout)

    def pairs(self) -> None:
        if not self.needs("pairs"):
            return

        def work() -> None:
            from actrain.data.alternatives import make_pairs

            if self.config.alternatives.pairs_from:
                from actrain.data.reused_pairs import reuse_pairs

                reused, stats = reuse_pairs(self.config.alternatives.pairs_from,
                                            read_trajectories(self.train_traj),
                                            read_trajectories(self.eval_traj))
                write_jsonl(self.train_pairs, reused["train"])
                write_jsonl(self.eval_pairs, reused["id_test"])
                write_json(self.stats("pairs"), stats)
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
            write_json(self.stats("pairs"), stats)
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
            from actrain.envs import instructions_of
            from actrain.prompts import ActorView

            c = self.config
            teacher = c.sr.teacher
            model, tokenizer = self.base_model() if teacher == "base" else self.generator(teacher)
            records, stats = write_rationales(
                model, tokenizer, read_jsonl(self.train_outcomes),
                ActorView.of(c.data, instructions_of(c.env)),
                c.sr.max_new_tokens, c.eval.batch_size, c.dtype,
            )
            if distributed.is_main():
                write_jsonl(self.train_rationales, records)
                write_json(self.stats("rationales"),
                           {**stats, "teacher": c.model if teacher == "base" else teacher})

        self._run("rationales", self.keys.data_key("rationales"), [self.train_rationales], work)


    def hard_set(self) -> None:
        """The hard critic set (data/hard_pairs.py), for runs that evaluate a critic."""
        c = self.config
        if not (self.uses_act and c.hard_set.tasks):
            return

        def work() -> None:
            from actrain.data.hard_pairs import hard_pairs
            from actrain.data.trajectories import collect_expert_trajectory, first_tasks
            from actrain.envs import from_config

            h = c.hard_set
            with from_config(c.env) as env:
                tasks = first_tasks(env, h.split, h.tasks)  # every process: it holds a barrier
                if not distributed.is_main():  # replaying games is cheap: one process does it
                    return
                trajectories = [t for t in (collect_expert_trajectory(env, task) for task in
                                            tqdm(tasks, desc=f"expert trajectories ({h.split})",
                                                 unit="task", leave=False)) if t["won"]]
                pairs, stats = hard_pairs(env, trajectories, c.data.history_len, h.per_state,
                                          seed=0, max_checks=h.max_checks)
            write_jsonl(self.hard_traj, trajectories)
            write_jsonl(self.hard_pairs, pairs)
            write_json(self.stats("hard"),
                       {"tasks": len(tasks), "trajectories": len(trajectories), **stats})
            self.tracker.log("data", {"hard_set": stats})

        self._run("hard set", self.keys.data_key("hard"), [self.hard_traj, self.hard_pairs], work)
