"""The TRL config a training stage gets, built on its own: for `actrain plan`, and before a
stage's model loads (under DeepSpeed ZeRO-3 the config's DeepSpeed settings must exist while
`from_pretrained` runs, so that the weights are partitioned as they load)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from actrain.stages import registry
from actrain.stages.inputs import StageInputs


def trl_args(inputs: StageInputs, stage: str, tmp: str) -> Any:
    """The TRL config the stage would train with (built here, so bad keys fail now)."""
    return registry.get(stage).trl_args(inputs, Path(tmp) / stage)
