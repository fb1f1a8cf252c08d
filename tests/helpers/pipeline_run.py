"""Run a small ACT pipeline in RUN_DIR on the tiny model, recording which process wrote which
file (for tests/test_distributed.py, under `accelerate launch` or as one process)."""

import json
import os
import sys
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
run_dir, log_dir = Path(sys.argv[1]), Path(sys.argv[2])
writes: list[str] = []
real_replace = os.replace


def spy_replace(src, dst):  # every actrain output lands through os.replace (io.write_atomic)
    writes.append(str(dst))
    return real_replace(src, dst)


os.replace = spy_replace

from actrain.config.schema import load_config  # noqa: E402
from actrain.run.pipeline import Pipeline  # noqa: E402

config = load_config(None, [
    f"runs_dir={run_dir.parent}", f"name={run_dir.name}", "model=tiny-random", "dtype=float32",
    "device=cpu", "pipeline=act", "env.id=twx/twc", "data.train_tasks=3", "data.eval_tasks=2",
    "alternatives.mode=admissible", "critic.max_new_tokens=1", "act.max_steps=2",
    "act.num_generations=2", "act.prompts_per_step=2", "rollout.enabled=false",
])
Pipeline(config).run()
rank = int(os.environ.get("RANK", "0"))
log_dir.mkdir(parents=True, exist_ok=True)
with open(log_dir / f"writes-{rank}.json", "w") as handle:  # not through os.replace
    json.dump([w for w in writes if str(run_dir) in w], handle)
