"""The one exception type users see: its message names the problem and the fix."""


class ActrainError(RuntimeError):
    """A user-facing error; the CLI prints its message as a single line and exits 1."""
