"""The vLLM generation backend: configured by one key, refused with one line where it cannot
run, reading completions with the shared stop rule, and (wherever vLLM is importable) greedy
outputs equal to the Hugging Face backend's."""

import importlib.util

import pytest
import torch

from actrain.config.schema import load_config
from actrain.errors import ActrainError
from actrain.prompts import cut_at_stop

VLLM = importlib.util.find_spec("vllm") is not None and torch.cuda.is_available()


def test_the_backend_is_a_checked_config_key():
    assert load_config(None, []).generation.backend == "hf"
    assert load_config(None, ["generation.backend=vllm"]).generation.backend == "vllm"
    with pytest.raises(ActrainError, match="generation.backend must be one of hf, vllm"):
        load_config(None, ["generation.backend=sglang"])


def test_the_stop_rule_cuts_finished_texts_as_it_stops_generation():
    stop = ["</answer>"]
    assert cut_at_stop("<answer>1</answer><answer>2</answer>", stop) == "<answer>1</answer>"
    thinking = "<think>maybe <answer>1</answer></think><answer>2</answer> and on"
    assert cut_at_stop(thinking, stop) == "<think>maybe <answer>1</answer></think><answer>2</answer>"
    unfinished = "<think>never closed <answer>1</answer> still thinking"
    assert cut_at_stop(unfinished, stop) == unfinished  # still thinking: nothing to stop at
    assert cut_at_stop("no tag at all", stop) == "no tag at all"


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None,
                    reason="vLLM is installed here: the missing-package error cannot show")
def test_without_vllm_the_backend_is_one_clear_line(tmp_path):
    from actrain.runtime.models import resolve_model_path
    from actrain.runtime.vllm_engine import VLLMEngine

    with pytest.raises(ActrainError, match=r"pip install 'actrain\[vllm\]'"):
        VLLMEngine(resolve_model_path("tiny-random"), "float32", 0)


def test_an_adapter_checkpoint_is_refused_before_vllm_starts(tmp_path):
    from actrain.runtime.vllm_engine import VLLMEngine

    (tmp_path / "adapter_config.json").write_text("{}")
    with pytest.raises(ActrainError, match="peft.merge: true"):
        VLLMEngine(str(tmp_path), "bfloat16", 0)


def test_scoring_many_prompts_equals_scoring_each(tiny_model):
    from actrain.runtime.generation import continuation_logprobs, score_continuations

    model, tokenizer = tiny_model
    prompts = ["You see a shirt. Act:", "Nothing to do. Act:", "You hold the shirt. Act:"]
    options = [["take shirt</action>", "look</action>"], [], ["open wardrobe</action>"]]
    assert score_continuations(model, tokenizer, prompts, options, progress=False) == [
        continuation_logprobs(model, tokenizer, p, o) for p, o in zip(prompts, options, strict=True)]
    with pytest.raises(ValueError):  # one list of continuations per prompt
        score_continuations(model, tokenizer, prompts, options[:2], progress=False)


@pytest.mark.skipif(not VLLM, reason="needs vLLM and a CUDA GPU (pip install 'actrain[vllm]')")
def test_greedy_outputs_of_both_backends_agree():
    from actrain.runtime.generation import continuation_logprobs, generate, score_continuations
    from actrain.runtime.models import load_model, resolve_model_path
    from actrain.runtime.vllm_engine import VLLMEngine

    model, tokenizer = load_model("smollm2-135m", "bfloat16", "cuda:0")
    prompts = ["<|im_start|>user\nName a fruit.<|im_end|>\n<|im_start|>assistant\n",
               "<|im_start|>user\nSay hi.<|im_end|>\n<|im_start|>assistant\n"]
    conts = [" apple", " banana split"]
    with VLLMEngine(resolve_model_path("smollm2-135m"), "bfloat16", 0, 0.3) as engine:
        hf = generate(model, tokenizer, prompts, max_new_tokens=8, temperature=0,
                      autocast="bfloat16")
        fast = generate(engine, tokenizer, prompts, max_new_tokens=8, temperature=0)
        scored = continuation_logprobs(engine, tokenizer, prompts[0], conts)
        batched = score_continuations(engine, tokenizer, prompts, [conts, conts[:1]])
    # bf16 kernels differ, so near-ties may decode apart: each backend's greedy text is as
    # likely under the HF model as the other's
    for prompt, (a,), (b,) in zip(prompts, hf, fast, strict=True):
        mine, theirs = continuation_logprobs(model, tokenizer, prompt, [a, b], "bfloat16")
        assert theirs == pytest.approx(mine, abs=0.5)
    assert scored == pytest.approx(
        continuation_logprobs(model, tokenizer, prompts[0], conts, "bfloat16"), abs=0.1)
    assert batched[0] == scored
    assert batched[1] == pytest.approx(scored[:1], abs=1e-4)


def test_auto_takes_vllm_on_a_cuda_device_where_it_is_installed_and_hf_elsewhere(monkeypatch):
    from actrain.runtime import vllm_engine

    assert vllm_engine.resolve_backend("hf", "cuda:0") == "hf"
    assert vllm_engine.resolve_backend("vllm", "cpu") == "vllm"
    assert vllm_engine.resolve_backend("auto", "cpu") == "hf"  # measured: scoring 0.18x on CPUs
    found = {"vllm": object()}
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: found.get(name))
    assert vllm_engine.resolve_backend("auto", "cuda:0") == "vllm"
    found.clear()
    assert vllm_engine.resolve_backend("auto", "cuda:0") == "hf"
