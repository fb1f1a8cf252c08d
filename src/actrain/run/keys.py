"""What each output of a run was made from: fingerprints, and the book that records them.

Every step of a run writes its output atomically and records, in `stages.json`, a fingerprint
of the config keys it reads chained with the fingerprints of its inputs. A step whose output
exists with the same fingerprint is skipped; any change re-runs exactly what depends on it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict
from pathlib import Path
from typing import Any

from actrain.config.schema import RunConfig
from actrain.envs import instructions_of
from actrain.prompts import ActorView, view_key
from actrain.run.fingerprint import fingerprint
from actrain.run.step_table import data_key
from actrain.runtime.io import read_json, write_json
from actrain.runtime.run_folder import RunFolder
from actrain.stages.inputs import (
    critic_key_settings,
    data_of,
    key_settings,
    sampling_key_settings,
    stage_inputs,
)

# The package version and prompt format that runs had before they were part of the keys.
KEYS_BEFORE_FORMAT = ("0.1.0", 1)


class StageBook:
    """Which outputs are done, and from what inputs (`stages.json` in the run folder)."""

    def __init__(self, run_dir: Path) -> None:
        self.path = RunFolder(run_dir).stages_file
        self.entries: dict[str, Any] = read_json(self.path) if self.path.exists() else {}

    def done(self, stage: str, key: str, outputs: list[Path]) -> bool:
        entry = self.entries.get(stage)
        return bool(entry) and entry["fingerprint"] == key and all(p.exists() for p in outputs)

    def record(self, stage: str, key: str, seconds: float) -> None:
        self.entries[stage] = {"fingerprint": key, "seconds": round(seconds, 1)}
        write_json(self.path, self.entries)


class RunKeys:
    """The fingerprint of each output of a run, from the config keys it reads."""

    def __init__(self, config: RunConfig) -> None:
        self.config = config

    def data_key(self, which: str) -> str:
        """The fingerprint of a data step's output (`run/step_table.py`)."""
        return data_key(self.config, which, self)

    def template_key(self) -> list[Any]:
        """What changes every prompt: the package's prompt format and version, chat template
        switches and the environment's instructions (`TextEnv.instructions`). Each is left out
        while it has the value runs were made with before it entered the keys (no instructions:
        every environment but WebShop), so those runs stay valid; any other value changes every
        key."""
        from actrain import __version__
        from actrain.prompts import PROMPT_FORMAT

        key: list[Any] = []
        if (__version__, PROMPT_FORMAT) != KEYS_BEFORE_FORMAT:
            key.append({"actrain": __version__, "prompt_format": PROMPT_FORMAT})
        if self.config.chat_template_kwargs:
            key.append(self.config.chat_template_kwargs)
        instructions = instructions_of(self.config.env)
        if instructions:  # the environment's own, in the agent's and the judge's prompts
            key.append({"instructions": instructions})
        return key

    def engine_key(self) -> list[Any]:
        """Another generation engine changes sampled and greedy outputs a little (not training
        itself); absent for the default one (older runs' keys)."""
        generation = self.config.generation
        return [asdict(generation)] if generation.backend != "hf" else []

    def checkpoint_key(self, seed: int, prefix: tuple[str, ...]) -> str:
        """Chained from the checkpoint it starts from, the data it reads and exactly the
        settings the stage receives (`stages.inputs.stage_inputs`, less those that change no
        result)."""
        if not prefix:
            return fingerprint("base", self.config.model, *self.template_key())
        stage = prefix[-1]
        data = self.data_key(data_of(stage))
        inputs = key_settings(stage_inputs(self.config, stage, seed))
        return fingerprint("train", self.checkpoint_key(seed, prefix[:-1]), stage, data, inputs)

    def critic_key(self, seed: int, prefix: tuple[str, ...]) -> str:
        c = self.config
        return fingerprint("critic", self.checkpoint_key(seed, prefix), self.data_key("pairs"),
                           critic_key_settings(asdict(c.critic)),
                           sampling_key_settings(asdict(c.eval)),
                           *self.engine_key())

    def hard_critic_key(self, seed: int, prefix: tuple[str, ...]) -> str:
        c = self.config
        return fingerprint("critic-hard", self.checkpoint_key(seed, prefix), self.data_key("hard"),
                           critic_key_settings(asdict(c.critic)),
                           sampling_key_settings(asdict(c.eval)), *self.engine_key())

    def agent_key(self, seed: int, prefix: tuple[str, ...], thinking: bool | None = None) -> str:
        c = self.config
        rollout = sampling_key_settings(asdict(c.rollout))
        rollout.pop("step_workers")  # how many threads step the environments changes no result
        # At its default, as runs keyed before it existed (their agents are measured again
        # where their next-action file is missing: `Pipeline.evaluate_agent`).
        if rollout.get("next_action_states") == type(c.rollout).next_action_states:
            rollout.pop("next_action_states")
        view = ActorView.of(c.data, instructions_of(c.env))
        if thinking is not True:
            rollout.pop("thinking_max_new_tokens")  # only `-cot` rollouts read it
        if thinking is not None:
            view = dataclasses.replace(view, reasoning=thinking)
        # The held-out trajectories give the next-action accuracy beside the rollouts.
        shown = view_key(asdict(view))
        shown.pop("il_thinking")  # how IL targets were written: the checkpoint key has it
        return fingerprint("agent", self.checkpoint_key(seed, prefix), self.data_key("collect"),
                           c.env.id, c.env.kwargs, rollout, shown, c.dtype,
                           seed if c.rollout.temperature else 0, *self.engine_key())
