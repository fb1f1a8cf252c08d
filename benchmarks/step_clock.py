"""A trainer callback that times each optimizer step: the benchmarks' shared stopwatch."""

from __future__ import annotations

import time

from transformers import TrainerCallback


class StepClock(TrainerCallback):
    """Appends each step's wall time, in seconds, to `times`."""

    def __init__(self, times: list[float]) -> None:
        self.times = times
        self.start = 0.0

    def on_step_begin(self, *_, **__):  # noqa: ANN002, ANN003, ANN202
        self.start = time.perf_counter()

    def on_step_end(self, *_, **__):  # noqa: ANN002, ANN003, ANN202
        self.times.append(time.perf_counter() - self.start)
