"""Generating tw-cooking games for the `textworld/cooking` adapter, and their cache.

A game is named by its generation settings and seed; it is generated once, in a child process
with hash randomisation off (byte-for-byte deterministic), compiled to `.z8` and cached under
`$ACTRAIN_CACHE/textworld`. Kept apart from the adapter (`textworld.py`), which only plays games.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from actrain.errors import ActrainError


@contextmanager
def _quiet_interpreter() -> Iterator[None]:
    """Silence the interpreter's "game not fully supported" warning, emitted on every start.

    It only says that the interpreter cannot track score and moves itself; TextWorld tracks
    them from the game's own state, so the warning is noise here.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is not fully supported")
        yield


def _import_textworld() -> Any:
    try:
        import textworld
    except ImportError:
        raise ActrainError("TextWorld is not installed: pip install 'actrain[textworld]'") from None
    return textworld


def default_cache_root() -> Path:
    """Where generated games live: `$ACTRAIN_CACHE/textworld`, as
    `actrain.runtime.models.cache_dir`.

    Read here rather than imported, because importing `actrain.runtime.models` loads torch and
    transformers, and this module is imported by `registered_ids()`.
    """
    root = Path(os.environ.get("ACTRAIN_CACHE", Path.home() / ".cache" / "actrain"))
    return root / "textworld"


def settings_key(settings: dict[str, Any], version: str) -> str:
    """A readable, stable directory name for one set of generation settings."""
    parts = []
    for name in sorted(settings):
        value = settings[name]
        if value is True:
            parts.append(name)
        elif value is False:
            continue
        else:
            parts.append(f"{name}{value}")
    slug = "-".join(parts)
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", slug):
        raise ActrainError(f"textworld/cooking: settings {settings} do not make a safe file name")
    return f"tw{version}-cooking-{slug}"


def _is_generated(target: Path) -> bool:
    return (target / "game.z8").exists() and (target / "game.json").exists()


def generate_game_here(settings: dict[str, Any], seed: int, target: Path) -> Path:
    """Generate and compile one tw-cooking game into the directory `target`, in this process.

    The game is built in a temporary sibling directory that is renamed into place only once
    complete, so an interrupted generation leaves no half-written game behind. If another
    process finished the same game first, its copy is kept. The files are byte-identical for
    a seed only when hash randomisation is off (see `generate_games`).
    """
    textworld = _import_textworld()
    from textworld.challenges.tw_cooking import cooking
    from textworld.generator import compile_game

    game_file = target / "game.z8"
    if _is_generated(target):
        return game_file
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))
    try:
        options = textworld.GameOptions()
        options.seeds = seed  # one int seeds the map, objects, quest and grammar generators
        options.path = str(tmp / "game.z8")
        options.force_recompile = True
        try:
            with _quiet_interpreter():
                game = cooking.make(dict(settings), options)
                compile_game(game, options)
        except Exception as exc:
            raise ActrainError(
                f"textworld/cooking could not generate seed {seed} with settings {settings}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        (tmp / "game.ni").unlink(missing_ok=True)  # Inform 7 source, not needed to play
        try:
            os.replace(tmp, target)
        except OSError:
            if not game_file.exists():  # not a lost race with another process: a real error
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return game_file


def _run_generator(jobs: list[dict[str, Any]]) -> None:
    """Generate `jobs` in one child process with hash randomisation off."""
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    command = [sys.executable, "-m", "actrain.envs.textworld_games"]
    done = subprocess.run(
        command, input=json.dumps(jobs), text=True, capture_output=True, env=env, check=False
    )
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        raise ActrainError(
            f"textworld/cooking game generation failed: {lines[-1] if lines else done.returncode}"
        )


def generate_games(jobs: list[tuple[dict[str, Any], int, Path]]) -> list[Path]:
    """Generate the games not cached yet (settings, seed, target dir); return their `.z8` files.

    TextWorld's generator iterates Python sets, so with hash randomisation (the default) the
    same seed gives the same game but files that differ in the order of equivalent rules. To
    make the cache byte-for-byte reproducible, generation runs with PYTHONHASHSEED=0: in this
    process if it already runs that way, otherwise in one child process for the whole batch
    (~3 s of start-up, paid once per batch, so generate many games with one call).
    """
    missing = [
        (settings, seed, target) for settings, seed, target in jobs if not _is_generated(target)
    ]
    if missing:
        _import_textworld()  # the clear "not installed" error, before starting a child
        if sys.flags.hash_randomization == 0:
            for settings, seed, target in missing:
                generate_game_here(settings, seed, target)
        else:
            _run_generator(
                [{"settings": st, "seed": sd, "target": str(tg)} for st, sd, tg in missing]
            )
    return [target / "game.z8" for _, _, target in jobs]


def _main() -> None:
    """Child-process entry of `generate_games`: a JSON list of jobs on stdin."""
    for job in json.load(sys.stdin):
        generate_game_here(job["settings"], int(job["seed"]), Path(job["target"]))


if __name__ == "__main__":
    _main()
