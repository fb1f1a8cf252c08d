"""mkdocs hook: fill the generated reference pages at each build (`actrain.cli.reference`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

MARKERS = {
    "<!-- actrain:config-reference -->": "config_reference",
    "<!-- actrain:cli-reference -->": "cli_reference",
}


README = Path(__file__).parents[1] / "README.md"


def on_page_markdown(markdown: str, **_: Any) -> str:
    from actrain.cli import reference

    if "<!-- actrain:readme -->" in markdown:  # the home page is the README: one home
        text = README.read_text(encoding="utf-8").replace("](docs/", "](")
        markdown = markdown.replace("<!-- actrain:readme -->", text)
    for marker, name in MARKERS.items():
        if marker in markdown:
            markdown = markdown.replace(marker, getattr(reference, name)())
    return markdown
