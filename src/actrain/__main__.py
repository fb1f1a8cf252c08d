"""`python -m actrain ...` is the same as the `actrain` command."""

import sys

from actrain.cli import main

sys.exit(main())
