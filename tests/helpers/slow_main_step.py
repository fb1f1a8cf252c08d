"""Two launched processes with a 5 s collective timeout: the main process works alone for 12 s
inside a pipeline step (as `outcomes` replays branches), the other waits at the step's barrier.
`python slow_main_step.py OUT_DIR`; each process writes OUT_DIR/rank-R.json when it gets through."""

import json
import os
import sys
import time
from pathlib import Path

from actrain.runtime import distributed

out = Path(sys.argv[1])
distributed.init(5)
distributed.barrier()  # both are up
if distributed.is_main():
    time.sleep(12)
distributed.barrier()
rank = int(os.environ["RANK"])
(out / f"rank-{rank}.json").write_text(json.dumps({"rank": rank, "world": distributed.world()}))
