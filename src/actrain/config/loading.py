"""Loading a config: YAML and `key.sub=value` overrides into typed dataclasses.

Generic over the dataclasses of `config/schema/`: unknown keys are refused with the nearest
known one (`config.docs.did_you_mean`), scalars take their default's type (YAML reads `2e-6`
as a string), and every mistake is one ActrainError naming the key.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import yaml

from actrain.config.docs import did_you_mean
from actrain.errors import ActrainError


def build(cls: type, data: dict[str, Any], where: str = "", root: type | None = None) -> Any:
    """`cls` from a nested mapping: unknown keys refused with a hint, scalars typed like their
    defaults, sections built recursively; `root` is the whole config's class (for the hint)."""
    root = root or cls
    if not isinstance(data, dict):
        raise ActrainError(f"config section {where or 'root'} must be a mapping, got {data!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        hint = did_you_mean(unknown[0], where, fields, root)
        raise ActrainError(
            f"unknown config key(s) {', '.join(where + k for k in unknown)}; "
            + (f"{hint} " if hint else f"known in {where or 'root'}: {', '.join(fields)}; ")
            + "(`actrain config CONFIG` lists every key)"
        )
    kwargs = {}
    for name, value in data.items():
        default = fields[name].default_factory if fields[name].default_factory is not dataclasses.MISSING else None  # noqa: E501
        sub = default() if default is not None else None
        if dataclasses.is_dataclass(sub):
            kwargs[name] = build(type(sub), value, f"{where}{name}.", root)
        elif isinstance(sub, list) and not isinstance(value, (list, dict)):
            kwargs[name] = _as_list(value, sub, f"{where}{name}")
        elif isinstance(sub, list) and not isinstance(value, list):
            raise ActrainError(f"config key {where}{name} must be a list, got {value!r}")
        elif isinstance(sub, dict) and not isinstance(value, dict):
            raise ActrainError(f"config key {where}{name} must be a mapping, got {value!r}")
        else:
            kwargs[name] = _coerce(value, fields[name].default, f"{where}{name}")
    return cls(**kwargs)


def _as_list(value: Any, default: list[Any], key: str) -> list[Any]:
    """A list key given one value or "a,b" (`report_to=tensorboard`, `compare.seeds=0,1`),
    its items typed like the default's."""
    items = [i.strip() for i in value.split(",") if i.strip()] if isinstance(value, str) \
        else [value]
    if default and isinstance(default[0], int):
        return [_coerce(item, default[0], key) for item in items]
    return [str(item) for item in items]


def _coerce(value: Any, default: Any, key: str) -> Any:
    """Match a scalar to its default's type: YAML reads `2e-6` as a string, for instance."""
    if default is dataclasses.MISSING or value is None or isinstance(default, str):
        if isinstance(default, str) and not isinstance(value, str):
            return str(value)
        return value
    kind = type(default)
    if kind is bool:
        if isinstance(value, bool):
            return value
        raise ActrainError(f"config key {key} must be true or false, got {value!r}")
    if kind in (int, float) and not isinstance(value, bool):
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ActrainError(f"config key {key} must be a number, got {value!r}") from None
        if kind is int:
            if number != int(number):
                raise ActrainError(f"config key {key} must be an integer, got {value!r}")
            return int(number)
        return number
    return value


def _set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    node = data
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ActrainError(f"override {key}: {part} is not a section")
    node[parts[-1]] = value


def parse_overrides(overrides: list[str]) -> dict[str, Any]:
    """`["act.max_steps=5", "model=./ckpt"]` -> nested dict; values are parsed as YAML."""
    data: dict[str, Any] = {}
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ActrainError(f"override {item!r} is not key=value")
        try:
            value = yaml.safe_load(raw) if raw else ""
        except yaml.YAMLError as exc:
            raise ActrainError(f"override {item!r}: the value is not valid YAML "
                               f"({yaml_problem(exc)}); quote it for the shell") from None
        _set_dotted(data, key.strip(), value)
    return data


def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def yaml_problem(exc: yaml.YAMLError) -> str:
    """PyYAML's multi-line report as one line: what, and where."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
    return f"{where}{problem}"
