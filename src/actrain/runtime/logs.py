"""actrain's progress log: its format, and one copy of it under `accelerate launch`."""

from __future__ import annotations

import logging
import os

FORMAT, DATE_FORMAT = "%(asctime)s %(name)s: %(message)s", "%H:%M:%S"


class MainRankOnly(logging.Filter):
    """Progress lines from the main process only: every launched rank runs the same steps, and
    8 copies of each line hide the one that matters. Warnings and errors from any rank still
    show, marked with their rank."""

    def filter(self, record: logging.LogRecord) -> bool:
        rank = os.environ.get("RANK", "0")
        if rank == "0" or os.environ.get("WORLD_SIZE", "1") == "1":
            return True
        if record.levelno < logging.WARNING:
            return False
        if not getattr(record, "rank_marked", False):
            record.msg, record.rank_marked = f"[rank {rank}] {record.msg}", True
        return True


def one_copy_under_launch() -> None:
    """Put `MainRankOnly` on the "actrain" logger (once)."""
    logger = logging.getLogger("actrain")
    if not any(isinstance(f, MainRankOnly) for f in logger.filters):
        logger.addFilter(MainRankOnly())


def ensure_logging() -> None:
    """actrain's INFO progress lines on stderr, unless the program configured logging itself
    (the CLI does; so does any program that called `logging.basicConfig`)."""
    one_copy_under_launch()
    if logging.getLogger().handlers or logging.getLogger("actrain").handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(FORMAT, DATE_FORMAT))
    logger = logging.getLogger("actrain")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
