"""Experiment tracking: one top-level `report_to` for a whole run.

Training metrics reach the trackers through transformers' own integrations: every stage's TRL
config gets `report_to` and a `run_name` of `<run name>/<checkpoint id>`. What actrain measures
outside a trainer goes to the same trackers through `Tracker.log`: pair statistics, held-out
critic evaluations, ACT's held-out critic curve and agent rollouts. TensorBoard event files go
to `<run dir>/tensorboard/<source>`, one TensorBoard run a checkpoint (`tensorboard --logdir
runs/<name>/tensorboard`).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from actrain.errors import ActrainError

# report_to name -> (the module it needs, how to install it)
TRACKERS = {
    "tensorboard": ("tensorboard", "pip install tensorboard (or 'actrain[tracking]')"),
    "wandb": ("wandb", "pip install wandb"),
    "trackio": ("trackio", "pip install trackio"),
}


def check_trackers(names: Sequence[str]) -> None:
    """One clear line for a tracker actrain does not know, or one that is not installed."""
    for name in names:
        if name not in TRACKERS:
            raise ActrainError(f"report_to: unknown tracker {name!r}; use "
                               f"{', '.join(TRACKERS)} or none")
        module, install = TRACKERS[name]
        if importlib.util.find_spec(module) is None:
            raise ActrainError(f"report_to: {name} is not installed here: {install}")


def scalars(metrics: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """The numeric leaves of nested metrics, keys joined by "/" (lists and text left out)."""
    out: dict[str, float] = {}
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(scalars(value, f"{name}/"))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out[name] = float(value)
    return out


class Tracker:
    """Logs actrain's own measurements to the run's trackers; does nothing without any."""

    def __init__(self, names: Sequence[str], run_dir: Path, run_name: str) -> None:
        self.names, self.run_dir, self.run_name = list(names), Path(run_dir), run_name

    def tensorboard_dir(self, source: str) -> Path:
        return self.run_dir / "tensorboard" / source

    def log(self, source: str, metrics: Mapping[str, Any], step: int = 0) -> None:
        """`metrics` (nested; numeric leaves are logged) of `source` (`data`, a checkpoint or
        agent id) at `step`."""
        self.log_rows(source, [(step, metrics)])

    def log_rows(self, source: str, rows: Sequence[tuple[int, Mapping[str, Any]]]) -> None:
        """Several steps of one source (a curve), in one tracker session each."""
        if not self.names or not rows:
            return
        for name in self.names:
            getattr(self, f"_log_{name}")(source, [(step, scalars(m)) for step, m in rows])

    def _log_tensorboard(self, source: str, rows: list[tuple[int, dict[str, float]]]) -> None:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(log_dir=str(self.tensorboard_dir(source)))
        try:
            for step, values in rows:
                for key, value in values.items():
                    writer.add_scalar(key, value, step)
        finally:
            writer.close()

    def _log_wandb(self, source: str, rows: list[tuple[int, dict[str, float]]]) -> None:
        import wandb

        run = wandb.init(project=os.environ.get("WANDB_PROJECT", "actrain"),
                         group=self.run_name, name=f"{self.run_name}/{source}",
                         job_type="evaluation", reinit=True)
        try:
            for step, values in rows:
                run.log(values, step=step)
        finally:
            run.finish()

    def _log_trackio(self, source: str, rows: list[tuple[int, dict[str, float]]]) -> None:
        import trackio

        trackio.init(project=os.environ.get("TRACKIO_PROJECT", self.run_name),
                     name=f"{self.run_name}/{source}", resume="allow")
        try:
            for step, values in rows:
                trackio.log(values, step=step)
        finally:
            trackio.finish()

    @contextlib.contextmanager
    def training(self, source: str) -> Iterator[None]:
        """While a stage trains: transformers' TensorBoard callback writes beside actrain's own
        events for the same checkpoint (it reads TENSORBOARD_LOGGING_DIR when built), and W&B
        groups the stage with the rest of the run."""
        saved = {k: os.environ.get(k) for k in ("TENSORBOARD_LOGGING_DIR", "WANDB_RUN_GROUP")}
        if "tensorboard" in self.names:
            os.environ["TENSORBOARD_LOGGING_DIR"] = str(self.tensorboard_dir(source))
        if "wandb" in self.names:
            os.environ.setdefault("WANDB_RUN_GROUP", self.run_name)
        try:
            yield
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
