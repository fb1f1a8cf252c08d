"""Text environments behind one contract, created by string id (`make("twx/twc")`)."""

from actrain.envs.base import (
    SPLITS,
    StepResult,
    TextEnv,
    from_config,
    instructions_of,
    make,
    register,
    registered_ids,
)

__all__ = ["SPLITS", "StepResult", "TextEnv", "from_config", "instructions_of", "make", "register",
           "registered_ids"]
