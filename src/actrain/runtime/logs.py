"""actrain's progress log for programs that use the library without the CLI."""

from __future__ import annotations

import logging


def ensure_logging() -> None:
    """actrain's INFO progress lines on stderr, unless the program configured logging itself
    (the CLI does; so does any program that called `logging.basicConfig`)."""
    if logging.getLogger().handlers or logging.getLogger("actrain").handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s", "%H:%M:%S"))
    logger = logging.getLogger("actrain")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
