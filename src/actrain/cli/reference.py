"""The docs site's generated pages: every config key (from the schema, as `actrain config`
reads it) and every CLI command (from the parser `actrain --help` prints). Generated at each
build (`docs/hooks.py`), so the reference cannot drift from the code.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from actrain.config.docs import _flow, field_docs


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def config_reference() -> str:
    """Markdown: a table a config section (key, default, meaning), the top level first."""
    from actrain.config.schema import RunConfig

    root = RunConfig()
    sections: list[tuple[str, Any]] = [("", root)]
    lines: list[str] = []
    while sections:
        prefix, obj = sections.pop(0)
        docs = field_docs(type(obj))
        title = f"`{prefix.rstrip('.')}`" if prefix else "Top level"
        lines += [f"### {title}", ""]
        if prefix:
            summary = (type(obj).__doc__ or "").strip().split("\n\n")[0]
            if summary:
                lines += [" ".join(summary.split()), ""]
        lines += ["| key | default | meaning |", "|---|---|---|"]
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if dataclasses.is_dataclass(value):
                lines.append(f"| `{prefix}{f.name}` | (section) | "
                             f"{_cell(docs.get(f.name, ''))} see [`{prefix}{f.name}`]"
                             f"(#{(prefix + f.name).replace('.', '')}) |")
                sections.append((f"{prefix}{f.name}.", value))
                continue
            lines.append(f"| `{prefix}{f.name}` | `{_cell(_flow(value))}` | "
                         f"{_cell(docs.get(f.name, ''))} |")
        lines.append("")
    return "\n".join(lines)


def cli_commands(
    parser: argparse.ArgumentParser | None = None,
) -> dict[str, argparse.ArgumentParser]:
    """`{command: its parser}` in the order `actrain --help` lists them."""
    from actrain.cli.main import build_parser

    parser = parser or build_parser()
    for action in parser._actions:  # argparse keeps its subcommands here and nowhere public
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def cli_reference() -> str:
    """Markdown: `actrain --help`, then each command's own help."""
    from actrain.cli.main import build_parser

    parser = build_parser()
    lines = ["```text", parser.format_help().rstrip(), "```", ""]
    for name, command in cli_commands(parser).items():
        command.prog = f"actrain {name}"
        lines += [f"### `actrain {name}`", "", "```text", command.format_help().rstrip(), "```",
                  ""]
    return "\n".join(lines)
