"""actrain: Agentic Critical Training for LLM agents on text environments.

The Python API (docs/python-api.md). Names load on first use, so `import actrain` stays light:

- configs: `load_config`, `RunConfig`, `describe_config`
- whole runs: `Pipeline` (`Pipeline(config).run()` is `actrain run`; with methods and seeds,
  `actrain compare`)
- one piece at a time: `pair`, `train_act`, `evaluate_critic`, `evaluate_agent`
- each training stage on its data: `stage_inputs`, `run_act`, `run_il`, `run_rl`, `run_sr`,
  `run_iwm`; models: `load_model`
- environments: `TextEnv`, `StepResult`, `register`, `make`, `registered_ids`
- data: `preference_rows` (pairs as TRL preference data)
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "load_config": "actrain.config.schema", "RunConfig": "actrain.config.schema",
    "describe_config": ("actrain.config.docs", "describe"),
    "ActrainError": "actrain.errors",
    "Pipeline": "actrain.run.pipeline",
    "pair": "actrain.cli.api", "train_act": "actrain.cli.api", "evaluate_critic": "actrain.cli.api",
    "evaluate_agent": "actrain.cli.api",
    "stage_inputs": "actrain.stages.inputs", "run_act": "actrain.stages.act",
    "run_il": "actrain.stages.il", "run_rl": "actrain.stages.rl",
    "run_sr": "actrain.stages.early_experience", "run_iwm": "actrain.stages.early_experience",
    "load_model": "actrain.runtime.models",
    "TextEnv": "actrain.envs", "StepResult": "actrain.envs", "register": "actrain.envs",
    "make": "actrain.envs", "registered_ids": "actrain.envs",
    "preference_rows": "actrain.data.preference_export",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'actrain' has no attribute {name!r}")
    target = _EXPORTS[name]
    module, attribute = target if isinstance(target, tuple) else (target, name)
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
