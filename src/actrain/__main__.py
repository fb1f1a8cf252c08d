"""`python -m actrain ...` is the same as the `actrain` command."""

import sys

from actrain.cli.main import main

sys.exit(main())
