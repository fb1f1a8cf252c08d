"""Every config key with its value, default and a one-line doc (`actrain config`), and the
"did you mean" for a mistyped key.

A key's doc is the comment beside its field in `config/schema/`, or the comment lines just
above it: what a key means has one home, read from the source instead of a table that would
drift from it.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import inspect
import io
import textwrap
import tokenize
from collections.abc import Iterable
from functools import cache
from typing import Any

import yaml


@cache
def field_docs(cls: type) -> dict[str, str]:
    """`{field: doc}` for a config dataclass and its bases (a subclass's comment wins)."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if dataclasses.is_dataclass(klass) and klass.__module__.startswith("actrain"):
            docs.update(_own_docs(klass))
    return docs


def _own_docs(cls: type) -> dict[str, str]:
    lines, _ = inspect.getsourcelines(cls)
    source = textwrap.dedent("".join(lines))
    comments: dict[int, str] = {}
    code_lines: set[int] = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            comments[token.start[0]] = token.string.lstrip("#").strip()
        elif token.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
                                tokenize.ENDMARKER):
            code_lines.add(token.start[0])
    body = ast.parse(source).body[0]
    docs = {}
    for node in getattr(body, "body", []):
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        line = node.lineno
        if line in comments:  # the comment beside the field
            docs[node.target.id] = comments[line]
            continue
        above = []  # or the block of comment-only lines right above it
        line -= 1
        while line in comments and line not in code_lines:
            above.insert(0, comments[line])
            line -= 1
        if above:
            docs[node.target.id] = " ".join(above)
    return docs


def key_paths(cls: type, prefix: str = "") -> list[str]:
    """Every dotted key of a config dataclass, sections and their keys."""
    paths = []
    for f in dataclasses.fields(cls):
        paths.append(prefix + f.name)
        section = _section_type(f)
        if section is not None:
            paths.extend(key_paths(section, f"{prefix}{f.name}."))
    return paths


def _section_type(f: dataclasses.Field) -> type | None:
    if f.default_factory is dataclasses.MISSING:
        return None
    default = f.default_factory()
    return type(default) if dataclasses.is_dataclass(default) else None


def did_you_mean(key: str, where: str, known: Iterable[str], root: type) -> str:
    """A hint for an unknown key: the nearest key of its section, else the same or a near name in
    any other section (`max_steps` at the root -> `act.max_steps`); "" when nothing is close."""
    near = difflib.get_close_matches(key, list(known), n=1, cutoff=0.7)
    if near:
        return f"did you mean {where}{near[0]}?"
    everywhere = key_paths(root)
    names = {path: path.rsplit(".", 1)[-1] for path in everywhere}
    same = [path for path, name in names.items() if name == key]
    if not same:
        close = difflib.get_close_matches(key, sorted(set(names.values())), n=1, cutoff=0.8)
        same = [path for path, name in names.items() if close and name == close[0]]
    if same:
        return f"did you mean {' or '.join(same[:3])}?"
    return ""


def _flow(value: Any) -> str:
    """A value as one line of YAML that reads back to the same value."""
    text = yaml.safe_dump(value, default_flow_style=True, width=10**6, sort_keys=False)
    return text.strip().removesuffix("...").strip()


def describe(config: Any, header: Iterable[str] = ()) -> str:
    """The config as YAML that loads back to it, every key commented with its doc and, where the
    value is not the default, the default."""
    rows: list[tuple[str, str]] = [(f"# {line}", "") for line in header]
    _describe(config, type(config)(), 0, rows)
    width = min(max(len(code) for code, doc in rows if doc) + 2, 48)
    return "\n".join(f"{code:<{width}}# {doc}" if doc else code for code, doc in rows) + "\n"


def _describe(obj: Any, default: Any, depth: int, rows: list[tuple[str, str]]) -> None:
    docs = field_docs(type(obj))
    pad = "  " * depth
    for f in dataclasses.fields(obj):
        value, base = getattr(obj, f.name), getattr(default, f.name)
        doc = docs.get(f.name, "")
        if dataclasses.is_dataclass(value):
            rows.append((f"{pad}{f.name}:", doc))
            _describe(value, base, depth + 1, rows)
            continue
        if value != base:
            doc = f"default {_flow(base)} · {doc}" if doc else f"default {_flow(base)}"
        rows.append((f"{pad}{f.name}: {_flow(value)}", doc))
