"""`python -m actrain.gpu_check ...`: the GPU check's command line, also the entry point of the
processes the ZeRO-3 and FSDP2 stages launch (`--worker`)."""

import sys

from actrain.gpu_check.cli import main

sys.exit(main())
