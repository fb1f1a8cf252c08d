"""What every step of a run is given: `RunContext`, and the models it keeps between steps.

A step is a function of the context (`run/data_steps.py`, `run/eval_steps.py`); `Pipeline`
(run/pipeline.py) trains the stages and puts the steps in order.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from actrain.config.schema import RunConfig
from actrain.errors import ActrainError
from actrain.run.keys import RunKeys, StageBook
from actrain.run.layout import RunLayout
from actrain.runtime import distributed
from actrain.runtime.release import release
from actrain.runtime.tracking import Tracker
from actrain.stages.inputs import critic_prefix, method_stages

log = logging.getLogger("actrain")


class RunModels:
    """The models a run generates with outside training, kept between the steps that share
    them: the untrained model, and the vLLM engines this process started."""

    def __init__(self, config: RunConfig) -> None:
        self.config = config
        self._base: tuple[Any, Any] | None = None
        self._engines: list[Any] = []  # vLLM engines started and not yet closed

    def load_model(self, name: str, for_training: bool = False) -> tuple[Any, Any]:
        """A model and tokenizer on the run's device, dtype and chat template settings.

        `for_training`: a model a training stage updates, which on a GPU without LoRA, ZeRO-3 or
        FSDP loads fp32 weights for the trainer's bf16 autocast (`models.training_weight_dtype`).
        """
        from actrain.runtime.models import load_model

        c = self.config
        four_bit = for_training and c.peft.enabled and c.peft.load_in_4bit
        return load_model(name, c.dtype, c.device, c.chat_template_kwargs, four_bit,
                          for_training=for_training, lora=c.peft.enabled)

    def generator(self, name: str) -> tuple[Any, Any]:
        """What generates outside training: the HF model, or a vLLM engine on its weights.

        An engine takes its share of the GPU's free memory when it starts, so the engines
        started before are closed first: only the newest generator is usable.
        """
        c = self.config
        if c.generation.backend == "hf":  # `auto` was resolved when the run opened
            return self.load_model(name)
        from actrain.prompts import set_chat_template_kwargs
        from actrain.runtime.models import load_tokenizer, resolve_model_path
        from actrain.runtime.vllm_engine import VLLMEngine

        self.release()
        engine = VLLMEngine(resolve_model_path(name), c.dtype, c.seed,
                            c.generation.gpu_memory_utilization, c.generation.max_model_len)
        self._engines.append(engine)
        tokenizer = load_tokenizer(name)
        set_chat_template_kwargs(tokenizer, c.chat_template_kwargs)
        return engine, tokenizer

    def base(self) -> tuple[Any, Any]:
        """The untrained model's generator, kept until `release`."""
        if self._base is None:
            self._base = self.generator(self.config.model)
        return self._base

    def release(self) -> None:
        """Free every generator held (the cached base model, vLLM engines): before a training
        stage needs the memory, before the next engine starts, after an evaluation."""
        self._base = None
        engines, self._engines = self._engines, []
        release(engines)


@dataclass
class RunContext:
    """One run's config, folder, methods and seeds, stage book, fingerprints, trackers and
    models: everything a step reads besides its own data files."""

    config: RunConfig
    layout: RunLayout
    methods: list[str]
    seeds: list[int]
    book: StageBook
    keys: RunKeys
    tracker: Tracker
    models: RunModels
    command: str = "Python: actrain.Pipeline"  # the CLI says which command (model cards)

    @classmethod
    def open(cls, config: RunConfig, methods: Sequence[str] | None = None,
             seeds: Sequence[int] | None = None) -> RunContext:
        """The context of `config`'s run: resolves its device and dtype, joins the other
        processes under `accelerate launch`, and reads the run folder's stage book."""
        from actrain.runtime.device import resolve_device, resolve_dtype
        from actrain.runtime.logs import ensure_logging

        ensure_logging()  # from Python: the progress log, unless the program set up logging
        distributed.init(config.collective_timeout)  # under `accelerate launch`: join first
        config.device = resolve_device(config.device)
        config.dtype = resolve_dtype(config.dtype, config.device)
        from actrain.runtime.vllm_engine import resolve_backend

        config.generation.backend = resolve_backend(config.generation.backend, config.device)
        methods = list(dict.fromkeys(methods or ["prompt", config.pipeline]))
        for method in methods:
            method_stages(method)
        seeds = list(dict.fromkeys(seeds if seeds is not None else [config.seed]))
        if not seeds:
            raise ActrainError("no seeds to run")
        layout = RunLayout(config)
        # Only the main process reports to the trackers (TRL does the same for training).
        tracker = Tracker(config.report_to if distributed.is_main() else [], layout.dir,
                          config.tracking_name)
        if config.threads:
            torch.set_num_threads(config.threads)
        return cls(config, layout, methods, seeds, StageBook(layout.dir), RunKeys(config),
                   tracker, RunModels(config))

    @property
    def uses_act(self) -> bool:
        return any(critic_prefix(method_stages(m)) for m in self.methods)

    def stages(self) -> set[str]:
        """Every training stage of the run's methods."""
        return {stage for method in self.methods for stage in method_stages(method)}

    def load(self, seed: int, prefix: tuple[str, ...]) -> tuple[Any, Any]:
        """The generator of `prefix`'s checkpoint (the cached base model for `()`)."""
        if not prefix:
            return self.models.base()
        return self.models.generator(self.layout.checkpoint(seed, prefix))

    @contextmanager
    def loaded(self, seed: int, prefix: tuple[str, ...]) -> Iterator[tuple[Any, Any]]:
        """`load`, with a checkpoint's generator freed when the block ends (the base model's
        stays cached for the next step that uses it)."""
        model_and_tokenizer = self.load(seed, prefix)
        try:
            yield model_and_tokenizer
        finally:
            del model_and_tokenizer
            if prefix:
                self.models.release()

    def run_step(self, step: str, key: str, outputs: list[Path],
                 work: Callable[[], None]) -> None:
        """Run `work` unless `outputs` exist with fingerprint `key`; then record the key."""
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
