"""The rationale intervention study: own reasoning, reasoning removed, wrong rationale injected."""

import json

import pytest
from conftest import REPO
from helpers.pairs import make_pair

from actrain.cli.main import main
from actrain.config.schema import load_config
from actrain.eval.studies import intervention_prompts, rationale_study
from actrain.runtime.io import write_jsonl

PAIRS = [make_pair(0, True), make_pair(0, False)]  # one pair in both orders

QUICKSTART = str(REPO / "configs" / "quickstart.yaml")


def test_the_three_conditions_share_one_prompt_and_differ_in_the_prefill(tokenizer):
    critic = load_config(None, []).critic
    expert_second = intervention_prompts(tokenizer, PAIRS[1], critic)
    own = expert_second["own"]
    assert "Think step by step" in own and not own.endswith("<answer>")
    assert expert_second["removed"] == own + "<answer>"
    injected = expert_second["injected"]
    assert injected.startswith(own) and injected.endswith("<answer>")
    # it argues for the alternative, shown first here
    assert "Action 1 (inventory) is the better choice" in injected


def test_metrics_per_condition_and_the_follow_rate(tokenizer, monkeypatch):
    import actrain.eval.studies as studies

    answers = {  # by condition: what a judge that follows the injected text would write
        "own": ["I think.<answer>1</answer>", "Hmm.<answer>2</answer>"],  # right, right
        "removed": ["1", "1"],  # right, wrong
        "injected": ["2", "1"],  # follows the argued action both times
    }

    def fake_generate(model, tok, prompts, **kwargs):
        condition = kwargs["desc"].split("(")[1].rstrip(")")
        assert kwargs["max_new_tokens"] == (64 if condition == "own" else 1)  # forced: the digit
        return [[a] for a in answers[condition]]

    monkeypatch.setattr(studies, "generate", fake_generate)
    result = rationale_study(None, tokenizer, PAIRS, load_config(None, []).critic,
                             max_new_tokens=64)
    assert result["own"]["balanced_accuracy"] == 1.0
    assert result["removed"]["balanced_accuracy"] == 0.5
    assert result["injected"]["balanced_accuracy"] == 0.0
    assert result["injected"]["follow_rate"] == 1.0


def test_the_study_command_runs_on_a_runs_held_out_pairs(tmp_path, capsys):
    run = tmp_path / "r"
    write_jsonl(run / "pairs" / "id_test.jsonl", PAIRS)
    out = tmp_path / "study.json"
    code = main(["study", "rationale", "--model", "tiny-random", "--max-new-tokens", "4",
                 "--out", str(out), QUICKSTART, f"runs_dir={tmp_path}",
                 "name=r", "dtype=float32", "device=cpu"])
    assert code == 0
    data = json.loads(out.read_text())
    assert set(data["models"]["tiny-random"]) == {"pairs", "own", "removed", "injected"}
    assert "| tiny-random | 2 |" in capsys.readouterr().out


def test_the_study_needs_a_run_with_pairs(tmp_path, capsys):
    assert main(["study", "rationale", QUICKSTART, f"runs_dir={tmp_path}"]) == 1
    assert "--until pairs" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["study", "nonsense", QUICKSTART])


# Qwen3's generation prompt: the model opens <think> itself; thinking off closes an empty block.
QWEN3_LIKE = (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% if enable_thinking is defined and "
    "enable_thinking is false %}<think>\n\n</think>\n\n{% endif %}{% endif %}"
)


def test_a_thinking_model_gets_the_rationale_removed_or_injected_inside_its_thinking(tokenizer):
    """The paper's conditions for a model that thinks first: an empty thinking block before the
    forced answer, and the wrong rationale as the thinking itself, never plain text outside."""
    import copy

    from actrain.prompts import answer_region, set_chat_template_kwargs

    thinking = copy.deepcopy(tokenizer)
    thinking.chat_template = QWEN3_LIKE
    critic = load_config(None, []).critic
    prompts = intervention_prompts(thinking, PAIRS[1], critic)
    own = prompts["own"]
    assert own.endswith("<|im_start|>assistant\n")
    assert prompts["removed"] == own + "<think>\n\n</think>\n\n<answer>"
    injected = prompts["injected"][len(own):]
    assert injected.startswith("<think>\nAction 1 (inventory) is the better choice")
    assert answer_region(injected).strip() == "<answer>"  # the rationale is all thinking
    off = copy.deepcopy(thinking)
    set_chat_template_kwargs(off, {"enable_thinking": False})
    closed = intervention_prompts(off, PAIRS[1], critic)  # the template closed the block itself
    assert closed["own"].endswith("</think>\n\n")
    assert closed["removed"] == closed["own"] + "<answer>"


def test_the_study_command_samples_as_the_configs_eval_section_says(tmp_path, monkeypatch):
    """A thinking model's study runs at the config's sampling settings and critic budget, not
    greedy at a short fixed length."""
    import actrain.eval.studies as studies

    seen = {}

    def study(model, tokenizer, pairs, critic, max_new_tokens, batch_size, dtype, **kwargs):
        seen.update(max_new_tokens=max_new_tokens, **kwargs)
        return {}

    monkeypatch.setattr(studies, "rationale_study", study)
    monkeypatch.setattr(studies, "format_study", lambda results: "")
    run = tmp_path / "r"
    write_jsonl(run / "pairs" / "id_test.jsonl", PAIRS)
    assert main(["study", "rationale", "--model", "tiny-random", QUICKSTART,
                 f"runs_dir={tmp_path}", "name=r", "dtype=float32", "device=cpu",
                 "eval.temperature=0.6", "eval.top_p=0.95", "eval.top_k=20"]) == 0
    assert seen["max_new_tokens"] is None  # the critic's own budget
    evaluation = seen["evaluation"]
    assert (evaluation.temperature, evaluation.top_p, evaluation.top_k) == (0.6, 0.95, 20)
