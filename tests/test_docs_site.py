"""The docs site (`make docs`, mkdocs.yml): it builds with warnings as errors, its generated
reference holds every config key and every CLI command and flag, and the README stays a page."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


def test_the_config_reference_names_every_key_with_its_default():
    from actrain.cli.reference import config_reference
    from actrain.config.docs import key_paths
    from actrain.config.schema import RunConfig

    reference = config_reference()
    missing = [key for key in key_paths(RunConfig) if f"| `{key}` |" not in reference]
    assert not missing, missing
    assert "| `act.max_steps` | `" in reference  # a default beside the key


def test_the_cli_reference_names_every_command_and_flag():
    from actrain.cli.reference import cli_commands, cli_reference

    reference = cli_reference()
    commands = cli_commands()
    assert {"run", "compare", "plan", "config", "eval-critic"} <= set(commands)
    for name, parser in commands.items():
        assert f"### `actrain {name}`" in reference
        for action in parser._actions:
            for flag in action.option_strings:
                assert flag in reference, (name, flag)


@pytest.mark.skipif(importlib.util.find_spec("mkdocs") is None and not os.environ.get("CI"),
                    reason="needs the docs extra: pip install 'actrain[docs]'")
def test_the_site_builds_with_warnings_as_errors(tmp_path):
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q",
                           "-f", str(ROOT / "mkdocs.yml"), "-d", str(tmp_path / "site")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    home = (tmp_path / "site" / "index.html").read_text()
    assert "make demo" in home  # the README is the home page
    reference = (tmp_path / "site" / "configuration" / "index.html").read_text()
    assert "act.max_steps" in reference


def test_the_readme_is_a_page_that_starts_with_the_two_commands():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 250
    first = "\n".join(lines[:12])
    assert "make demo" in first and "make test" in first
