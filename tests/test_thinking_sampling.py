"""Thinking models decode with their own sampling and enough tokens: temperature, top_p and top_k
reach every generation call (critic evaluation, rollouts, next-action accuracy, MATH-500/GPQA,
the rationale study) on both engines; sampled evaluations repeat with other seeds and report
mean ± std; completions cut off while thinking are counted, also under templates whose
generation prompt opens `<think>`; and the report puts the cut-off share beside every number."""

import copy
import sys
import types
from typing import Any

import pytest
from helpers.pairs import make_pair

from actrain.config.schema import EvalConfig, RolloutConfig, load_config
from actrain.errors import ActrainError

# Qwen3 in thinking mode, reduced to its effect: the assistant turn opens with nothing prefilled.
QWEN3_STYLE = (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
# DeepSeek-R1-Distill / Qwen3-*-Thinking-2507: the generation prompt opens the thinking block.
R1_STYLE = (
    "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|><think>\n{% endif %}"
)
QWEN3_SAMPLING = {"temperature": 0.6, "top_p": 0.95, "top_k": 20}
PAIRS = [make_pair(0, True), make_pair(0, False)]


def _with_template(tokenizer: Any, template: str) -> Any:
    tok = copy.deepcopy(tokenizer)
    tok.chat_template = template
    return tok


@pytest.fixture()
def qwen3_tokenizer(tokenizer):
    return _with_template(tokenizer, QWEN3_STYLE)


@pytest.fixture()
def r1_tokenizer(tokenizer):
    return _with_template(tokenizer, R1_STYLE)


def _recorder(answer: Any) -> tuple[Any, list[dict[str, Any]]]:
    """A `generate` stand-in: records each call's keyword arguments (and prompts), answers each
    prompt with `answer(prompt)`."""
    calls: list[dict[str, Any]] = []

    def fake(model: Any, tokenizer: Any, prompts: list[str], **kwargs: Any) -> list[list[str]]:
        calls.append({**kwargs, "prompts": list(prompts)})
        return [[answer(p)] for p in prompts]

    return fake, calls


# -- engines -----------------------------------------------------------------------------------

def test_hf_generate_honours_top_k_and_top_p(tiny_model, monkeypatch):
    from actrain.runtime.generation import generate

    model, tokenizer = tiny_model
    seen: dict[str, Any] = {}
    real = model.generate

    def spy(**kwargs: Any) -> Any:
        seen.update(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(model, "generate", spy)
    generate(model, tokenizer, ["Hello"], max_new_tokens=2, seed=0, progress=False,
             **QWEN3_SAMPLING)
    assert seen["do_sample"] and (seen["temperature"], seen["top_p"], seen["top_k"]) == (
        0.6, 0.95, 20)


class _FakeLLM:
    """An offline vLLM engine that answers every request with `text` and keeps the params."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.params: list[Any] = []

    def generate(self, requests: list[dict], params: list[Any], use_tqdm: bool = True) -> list:
        self.params = params
        return [types.SimpleNamespace(outputs=[types.SimpleNamespace(text=self.text)] * p.n)
                for p in params]


@pytest.fixture()
def fake_sampling_params(monkeypatch):
    class SamplingParams:
        def __init__(self, n: int = 1, **kwargs: Any) -> None:
            self.n, self.kwargs = n, kwargs

    module = types.ModuleType("vllm")
    module.SamplingParams = SamplingParams
    monkeypatch.setitem(sys.modules, "vllm", module)


def _engine(text: str) -> Any:
    from actrain.runtime.vllm_engine import VLLMEngine

    engine = object.__new__(VLLMEngine)  # no GPU: the request side only
    engine.path, engine.llm = "fake", _FakeLLM(text)
    return engine


def test_vllm_takes_top_k_and_leaves_stopping_to_the_shared_rule(fake_sampling_params,
                                                                  tokenizer):
    """vLLM's stop strings match case exactly, the HF rule ignores case: the shared rule decides
    for both, so "</ACTION>" ends a turn on either engine; top_k 0 is vLLM's -1."""
    from actrain.runtime.generation import generate

    engine = _engine("go north</ACTION> and then more")
    out = generate(engine, tokenizer, ["a", "b"], max_new_tokens=8, stop=["</action>"], seed=3,
                   **QWEN3_SAMPLING)
    assert out == [["go north</ACTION>"], ["go north</ACTION>"]]
    params = [p.kwargs for p in engine.llm.params]
    assert all(p["top_k"] == 20 and p["top_p"] == 0.95 and p["temperature"] == 0.6
               for p in params)
    assert all(not p.get("stop") for p in params)
    generate(engine, tokenizer, ["a"], max_new_tokens=8, temperature=0.7)
    assert engine.llm.params[0].kwargs["top_k"] == -1
    generate(engine, tokenizer, ["a"], max_new_tokens=8, temperature=0.0, top_k=20)
    assert engine.llm.params[0].kwargs["top_k"] == -1  # greedy: nothing to cut


def test_vllm_reads_a_prompt_that_opens_thinking_from_inside_the_block(fake_sampling_params,
                                                                        r1_tokenizer):
    from actrain.prompts import critic_prompt

    prompt = critic_prompt(r1_tokenizer, "Task: t", ["take apple", "open fridge"],
                           reasoning=True)
    text = "maybe <answer>1</answer> or</think><answer>2</answer> and on"
    out = _engine(text).generate(r1_tokenizer, [prompt], 1, 8, 0.6, 0.95, ["</answer>"], 0)
    # the first tag was written while thinking: the turn ends at the answer after it
    assert out == [["maybe <answer>1</answer> or</think><answer>2</answer>"]]


# -- configuration -----------------------------------------------------------------------------

def test_sampling_keys_default_to_todays_greedy_decoding():
    config = load_config(None, [])
    assert (config.eval.temperature, config.eval.top_p, config.eval.top_k) == (0.0, 1.0, 0)
    assert (config.rollout.temperature, config.rollout.top_p, config.rollout.top_k) == (
        0.0, 1.0, 0)
    assert config.eval.samples == 1


def test_repeating_a_greedy_evaluation_is_refused_in_one_line():
    with pytest.raises(ActrainError, match="greedy") as error:
        load_config(None, ["eval.samples=3"])
    assert "\n" not in str(error.value)
    assert load_config(None, ["eval.samples=3", "eval.temperature=0.6"]).eval.samples == 3
    with pytest.raises(ActrainError, match="rollout.top_p"):
        RolloutConfig(top_p=0.0)
    with pytest.raises(ActrainError, match="eval.top_k"):
        EvalConfig(top_k=-1)


def test_paper_scale_configs_sample_as_qwen3_asks_with_thinking_budgets():
    from conftest import REPO

    for path in sorted((REPO / "configs").glob("*-qwen3-8b.yaml")):
        config = load_config(path)
        for section in (config.eval, config.rollout, config.alternatives):
            assert (section.temperature, section.top_p, section.top_k) == (0.6, 0.95, 20), path
        assert config.critic.max_new_tokens >= 4096, path
        assert config.rollout.max_new_tokens >= 4096, path
        assert config.rollout.thinking_max_new_tokens >= 4096, path
        assert config.rl.max_new_tokens >= 4096 and config.alternatives.max_new_tokens >= 4096


# -- every generation site, end to end on a thinking model ---------------------------------------

def test_sampling_reaches_every_generation_call_and_cut_off_thinking_is_reported(
    tiny_model, qwen3_tokenizer, monkeypatch, tmp_path
):
    import actrain.eval.critic as evaluate
    import actrain.eval.next_action as next_action
    import actrain.eval.reasoning as reasoning_eval
    import actrain.eval.rollouts as rollouts
    import actrain.eval.studies as studies
    from actrain.config.schema import to_dict
    from actrain.report.agent import agent_table
    from actrain.report.markdown import write_report

    model, _ = tiny_model
    sampling = [f"{section}.{key}={value}" for section in ("eval", "rollout")
                for key, value in QWEN3_SAMPLING.items()]
    config = load_config(None, [f"runs_dir={tmp_path}", "critic.reasoning=true",
                                "data.actor_reasoning=true", "eval.samples=2",
                                "rollout.episodes=1", "rollout.splits=[id_test]",
                                "rollout.max_steps=2", *sampling])

    def critic_answer(prompt: str) -> str:  # the expert-first pair is cut off while thinking
        if "Action 1: take shirt" in prompt:
            return "<think>take the shirt? <answer>1</answer> but"
        return "<think>the shirt</think><answer>2</answer>"

    fake, calls = _recorder(critic_answer)
    monkeypatch.setattr(evaluate, "generate", fake)
    monkeypatch.setattr(studies, "generate", fake)
    metrics, predictions = evaluate.evaluate_critic(model, qwen3_tokenizer, PAIRS, config.critic,
                                                    config.eval, seed=5)
    assert [c["seed"] for c in calls] == [5, 6]  # two samples, two seeds
    assert metrics["samples"] == 2 and len(metrics["runs"]) == 2 and len(predictions) == 4
    assert metrics["truncated_rate"] == 0.5 and metrics["truncated_rate_std"] == 0.0
    assert metrics["balanced_accuracy"] == 0.5 and "balanced_accuracy_std" in metrics
    studies.rationale_study(model, qwen3_tokenizer, PAIRS, config.critic, evaluation=config.eval)

    rollout_fake, rollout_calls = _recorder(lambda p: "<think>I should go")
    monkeypatch.setattr(rollouts, "generate", rollout_fake)
    monkeypatch.setattr(next_action, "generate", rollout_fake)
    trajectory = {"task": "t:0", "task_description": "tidy up", "steps": [
        {"observation": "room", "admissible": ["take shirt"], "expert_action": "take shirt"}]}
    summary, _ = rollouts.evaluate_agent(model, qwen3_tokenizer, config, 0, thinking=True,
                                         heldout=[trajectory])
    assert summary["id_test"]["truncated_rate"] == 1.0
    assert summary["next_action"]["truncated_rate"] == 1.0
    assert "top_k 20" in summary["protocol"]["decoding"]

    math_fake, math_calls = _recorder(lambda p: "<think>so \\boxed{2}")
    monkeypatch.setattr(reasoning_eval, "generate", math_fake)
    result = reasoning_eval.evaluate_reasoning(
        model, qwen3_tokenizer, {"math500": [{"id": "1", "problem": "1+1", "answer": "2"}]},
        seeds=[0, 1], max_new_tokens=32768, **QWEN3_SAMPLING)
    assert result["benchmarks"]["math500"]["truncated_rate"] == 1.0
    assert "warning: 100.0% of math500" in reasoning_eval.format_table(result)

    # ACT's GRPO group on these prompts: the judgment cut off while thinking stays out of the
    # baseline (advantage 0), so the wrong answer is pushed down and the right one up
    from test_rewards import _act_rewards, _trl_advantages

    from actrain.prompts import critic_prompts

    prompt = critic_prompts(qwen3_tokenizer, PAIRS[:1], config.critic)[0]
    cut = critic_answer(prompt)
    group = [cut, cut, "<think>yes</think><answer>1</answer>", "<think>no</think><answer>2</answer>"]
    funcs, weights = _act_rewards(group, [prompt] * 4)
    advantages = _trl_advantages(funcs, weights, 4)
    assert advantages[:2] == [0.0, 0.0] and advantages[2] > 0 > advantages[3]

    # critic: 2 samples + the study's 3 conditions; agent: 2 turns + next-action; MATH: 2 seeds
    assert (len(calls), len(rollout_calls), len(math_calls)) == (5, 3, 2)
    for call in calls + rollout_calls + math_calls:
        assert {k: call[k] for k in QWEN3_SAMPLING} == QWEN3_SAMPLING, call.get("desc")

    # the report: the cut-off share beside every number, and one warning line above 5%
    results = {
        "name": "r", "methods": ["prompt"], "seeds": [0], "config": to_dict(config),
        "protocol": summary["protocol"], "agent": {"prompt": {"0": summary}},
        "critic": {"base": metrics}, "training": {}, "stages": {}, "data": {},
    }
    table = agent_table(results)
    assert "turns cut off while thinking %" in table and "next-action cut off %" in table
    text = write_report(tmp_path, results).read_text()
    assert "| cut off while thinking |" in text and "| base (2 samples) |" in text
    assert "50.0% ± 0.0" in text  # balanced accuracy, mean ± std over the two samples
    warnings = [line for line in text.splitlines() if "**warning**" in line]
    assert len(warnings) == 1
    assert "critic `base` 50.0%" in warnings[0] and "agent `prompt`" in warnings[0]


def test_no_warning_when_little_is_cut_off(tmp_path):
    from actrain.report.agent import truncation_warnings

    results = {"critic": {"base": {"truncated_rate": 0.05}},
               "agent": {"il": {"0": {"id_test": {"truncated_rate": 0.01}}}}}
    assert truncation_warnings(results) == []


# -- templates that open <think> in the prompt ---------------------------------------------------

CUT = "Action 1 takes the shirt, so <answer>1</answer> unless"  # cut off mid-thought
DONE = "Action 1 takes the shirt.\n</think>\n\n<answer>1</answer>"


def test_critic_evaluation_reads_an_r1_completion_from_inside_thinking(tiny_model, r1_tokenizer,
                                                                         monkeypatch):
    import actrain.eval.critic as evaluate

    model, _ = tiny_model
    fake, _ = _recorder(lambda p: CUT if "Action 1: take shirt" in p else DONE)
    monkeypatch.setattr(evaluate, "generate", fake)
    config = load_config(None, ["critic.reasoning=true"])
    metrics, predictions = evaluate.evaluate_critic(model, r1_tokenizer, PAIRS, config.critic,
                                                    config.eval)
    assert [p["picked"] for p in predictions] == [None, 0]
    assert metrics["truncated_rate"] == 0.5 and metrics["format_failure_rate"] == 0.5


def test_rollouts_and_next_action_read_an_r1_turn_from_inside_thinking(r1_tokenizer,
                                                                        monkeypatch):
    import actrain.eval.next_action as next_action
    import actrain.eval.rollouts as rollouts
    from actrain.eval.agent_settings import AgentSettings
    from actrain.eval.next_action import next_action_accuracy
    from actrain.eval.rollouts import summarise
    from actrain.prompts import ActorView

    cut = "Take the shirt: <action>take shirt</action> or"
    trajectory = {"task": "t:0", "task_description": "tidy up", "steps": [
        {"observation": "room", "admissible": ["take shirt"], "expert_action": "take shirt"}]}
    fake, _ = _recorder(lambda p: cut)
    monkeypatch.setattr(next_action, "generate", fake)
    settings = AgentSettings(view=ActorView(reasoning=True))
    result = next_action_accuracy(None, r1_tokenizer, [trajectory], settings)
    assert result["accuracy"] == 0.0 and result["truncated_rate"] == 1.0

    class OneRoom:
        def reset(self, task: str) -> Any:
            return types.SimpleNamespace(observation="room", info={})

        def admissible_actions(self) -> list[str]:
            return ["take shirt"]

        def step(self, action: str) -> Any:
            raise AssertionError("a turn cut off while thinking takes no action")

    episode = rollouts._start(OneRoom(), "t:0")
    prompt = rollouts._prompt(r1_tokenizer, episode, settings)
    rollouts._step(OneRoom(), episode, cut, settings, think_open=True)
    assert episode.malformed == 1 and episode.transcript[0].think_open is True
    record = episode.record(hit_max_steps=True)
    assert summarise([record])["truncated_rate"] == 1.0
    assert prompt.endswith("<think>\n")


def test_the_study_closes_an_opened_block_before_forcing_the_answer(r1_tokenizer, monkeypatch):
    import actrain.eval.studies as studies
    from actrain.eval.studies import intervention_prompts, rationale_study

    critic = load_config(None, []).critic
    prompts = intervention_prompts(r1_tokenizer, PAIRS[0], critic)
    assert prompts["removed"] == prompts["own"] + "</think>\n\n<answer>"
    assert prompts["injected"].endswith("</think>\n\n<answer>")

    def answer(prompt: str) -> str:
        return "1" if prompt.endswith("<answer>") else CUT

    fake, _ = _recorder(answer)
    monkeypatch.setattr(studies, "generate", fake)
    result = rationale_study(None, r1_tokenizer, PAIRS[:1], critic)
    assert result["own"]["format_failure_rate"] == 1.0 and result["own"]["truncated_rate"] == 1.0
    assert result["removed"]["accuracy"] == 1.0


def test_reasoning_benchmarks_count_an_r1_response_cut_off_while_thinking(r1_tokenizer,
                                                                         monkeypatch):
    import actrain.eval.reasoning as reasoning_eval

    fake, _ = _recorder(lambda p: "1+1 is \\boxed{2}, unless")
    monkeypatch.setattr(reasoning_eval, "generate", fake)
    result = reasoning_eval.evaluate_reasoning(
        None, r1_tokenizer, {"math500": [{"id": "1", "problem": "1+1", "answer": "2"}]})
    math = result["benchmarks"]["math500"]
    assert math["accuracy_mean"] == 0.0 and math["truncated_rate"] == 1.0


def test_alternatives_are_sampled_with_the_sections_top_k(tiny_model, monkeypatch):
    """The alternatives sampler passes `alternatives.top_k` on, as every other sampler does."""
    from actrain.data import alternatives as pairs

    model, tokenizer = tiny_model
    seen = []

    def generate(model, tokenizer, prompts, **kwargs):
        seen.append(kwargs)
        return [["<action>take shirt</action>"] * kwargs["num_samples"] for _ in prompts]

    monkeypatch.setattr(pairs, "generate", generate)
    config = load_config(None, ["alternatives.top_k=20", "alternatives.top_p=0.9",
                                "alternatives.temperature=0.6"])
    trajectories = [{"task": "train:0", "task_description": "Put the shirt away.", "steps": [
        {"observation": "You see a shirt.", "admissible": ["inventory", "take shirt"],
         "expert_action": "inventory"}]}]
    pairs.sample_alternatives(model, tokenizer, trajectories, config, 0)
    assert seen and all((k["temperature"], k["top_p"], k["top_k"]) == (0.6, 0.9, 20)
                        for k in seen)
