"""Checkpoint folders: whether one holds weights, its tensors, and how far two differ (how the
training stages tell that a step moved the weights)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from actrain.gpu_check.outcomes import CheckFailed, require


def has_weights(folder: Path) -> bool:
    """Whether `folder` is a finished model folder: a config and safetensors weights (a folder
    being written is `.tmp` and renamed only when whole)."""
    return (folder / "config.json").exists() and any(folder.glob("*.safetensors"))


def tensors(folder: Path | str) -> dict[str, Any]:
    """A checkpoint folder's weights (every safetensors file), on the CPU."""
    from safetensors.torch import load_file

    found: dict[str, Any] = {}
    for path in sorted(Path(folder).glob("*.safetensors")):
        found.update(load_file(str(path)))
    if not found:
        raise CheckFailed(f"no safetensors weights in {folder}")
    return found


def moved(before: Path | str, after: Path | str) -> dict[str, Any]:
    """How many weight tensors (and what share of their elements) differ between two
    checkpoints, on the names both hold. `before` is first rounded to the dtype `after` was
    saved in: an fp32 base saved again in bf16 differs everywhere without any training."""
    a, b = tensors(before), tensors(after)
    common = sorted(set(a) & set(b))
    require(bool(common), f"{before} and {after} share no weight names "
                          f"({sorted(a)[:3]} vs {sorted(b)[:3]})")
    changed = elements = total = 0
    largest = 0.0
    for name in common:
        x, y = a[name].to(b[name].dtype).float(), b[name].float()
        if x.shape != y.shape:
            raise CheckFailed(f"{name}: shape {tuple(x.shape)} became {tuple(y.shape)}")
        diff = (x != y)
        changed += bool(diff.any())
        elements += int(diff.sum())
        total += diff.numel()
        largest = max(largest, float((x - y).abs().max()))
    return {"tensors": len(common), "tensors_changed": changed,
            "elements_changed_share": round(elements / max(total, 1), 4),
            "max_abs_change": largest, "dtype_saved": str(next(iter(b.values())).dtype)}
