"""Early Experience baselines: branching a real environment, rationales, SR and IWM stages."""

import pytest
from helpers.pairs import make_pair

from actrain.config.schema import load_config
from actrain.data.branches import branch_outcomes, outcome_text
from actrain.envs.base import StepResult
from actrain.errors import ActrainError
from actrain.prompts import clean_rationale, rationale_prompt
from actrain.records import Outcome, Pair, Rationale
from actrain.run.pipeline import Pipeline
from actrain.runtime.io import read_json, read_jsonl, read_trajectories
from actrain.stages.early_experience import iwm_dataset, sr_dataset, sr_rows
from actrain.stages.inputs import method_stages, stage_inputs


def _config(tmp_path, *extra):
    return load_config(None, [f"runs_dir={tmp_path}", "model=tiny-random", "dtype=float32",
                              *extra])


def _outcome(i: int) -> Outcome:
    return Outcome.of(Pair.from_json(make_pair(i)), "You take the shirt.", "You carry nothing.")


def _rationale(i: int, rationale: str = "Taking the shirt moves the tidying on.") -> Rationale:
    return Rationale.of([_outcome(i)], rationale, rationale)


def test_branching_plays_both_actions_from_the_pairs_state_in_the_real_game(twc_env):
    import tempfile
    from pathlib import Path

    from actrain.data.trajectories import collect_trajectories

    with tempfile.TemporaryDirectory() as tmp:
        collect_trajectories(twc_env, "train", 2, Path(tmp) / "t.jsonl")
        trajectories = read_trajectories(Path(tmp) / "t.jsonl")
    pairs = []
    for t in trajectories:
        for step, s in enumerate(t.steps[:-1]):
            other = next(a for a in s.admissible if a != s.expert_action)
            for first in (True, False):  # both orders of a pair: branched once
                pairs.append(Pair.make(
                    task=t.task, step=step, task_description=t.task_description, history=[],
                    observation=s.observation, context=s.context, admissible=s.admissible,
                    expert_action=s.expert_action, alternative=other, alternative_source="test",
                    expert_first=first))
    records = branch_outcomes(twc_env, pairs, trajectories)
    assert len(records) == len(pairs) // 2
    by_task = {t.task: t for t in trajectories}
    for r in records:
        # the expert's branch reaches exactly the state the trajectory recorded next
        assert r.expert_outcome == by_task[r.task].steps[r.step + 1].observation
        assert r.alternative_outcome and "expert_first" not in r.to_json()
    assert any(r.alternative_outcome != r.expert_outcome for r in records)


def test_branching_refuses_pairs_that_do_not_match_the_trajectories(twc_env):
    with pytest.raises(ActrainError, match="pairs and trajectories disagree"):
        branch_outcomes(twc_env, [Pair.from_json(make_pair(0))], [])


def test_an_outcome_that_ends_the_game_says_so():
    assert outcome_text(StepResult("You win.", 1.0, True, {"won": True})).endswith(
        "[The game is over: won]")
    assert outcome_text(StepResult("You look around.", 0.0, False, {})) == "You look around."


def test_rationale_prompt_shows_both_outcomes_and_clean_rationale_strips_tags(tokenizer):
    prompt = rationale_prompt(tokenizer, "Task: tidy up", "take shirt", "inventory",
                              "You take the shirt.", "You carry nothing.")
    assert "You take the shirt." in prompt and "You carry nothing." in prompt
    assert clean_rationale("It helps. <action>take shirt</action>\n\nMore.") == \
        "It helps. take shirt"
    assert clean_rationale("<think></think>") == ""
    long = clean_rationale("Word. " * 300)
    assert len(long) <= 600 and long.endswith(".")


def test_sr_rows_teach_rationale_then_the_expert_action_mixed_with_il(tmp_path, tokenizer):
    config = _config(tmp_path)
    rows = sr_rows(tokenizer, [_rationale(0), _rationale(1, rationale="")],
                   stage_inputs(config, "sr").view)
    assert len(rows) == 1  # an empty rationale is not trained on
    assert rows[0]["completion"] == ("Taking the shirt moves the tidying on.\n"
                                     "<action>take shirt</action>")
    assert not rows[0]["prompt"].endswith("<action>")  # the thinking prompt
    trajectories = [{"task": "train:0", "task_description": "tidy up", "steps": [
        {"observation": "o", "admissible": ["take shirt"], "expert_action": "take shirt"}]}]
    mixed = sr_dataset(tokenizer, [_rationale(0)], trajectories, stage_inputs(config, "sr"))
    assert mixed["completion"] == [rows[0]["completion"], "take shirt</action>"]
    alone = sr_dataset(tokenizer, [_rationale(0)], trajectories,
                       stage_inputs(_config(tmp_path, "sr.mix_il=false"), "sr"))
    assert len(alone) == 1
    with pytest.raises(ActrainError, match="no usable rationales"):
        sr_dataset(tokenizer, [_rationale(0, rationale="")], trajectories,
                   stage_inputs(config, "sr"))


def test_iwm_rows_predict_the_next_observation_after_both_actions(tmp_path, tokenizer):
    ds = iwm_dataset(tokenizer, [_outcome(0)], stage_inputs(_config(tmp_path), "iwm").view)
    assert ds["completion"] == ["You take the shirt.", "You carry nothing."]
    assert "Action: take shirt" in ds["prompt"][0] and "Action: inventory" in ds["prompt"][1]


def test_sr_and_iwm_are_methods_whose_keys_chain_through_their_own_data(tmp_path):
    assert method_stages("iwm_il") == ("iwm", "il")
    p = Pipeline(_config(tmp_path), ["il", "sr", "iwm_il"], [0])
    assert p.needs("pairs") and p.needs("outcomes") and p.needs("rationales")
    assert not Pipeline(_config(tmp_path), ["il", "iwm_il"], [0]).needs("rationales")
    assert not Pipeline(_config(tmp_path), ["il"], [0]).needs("pairs")
    teacher = Pipeline(_config(tmp_path, "sr.teacher=other"), ["sr"], [0])
    assert teacher.keys.checkpoint_key(0, ("sr",)) != p.keys.checkpoint_key(0, ("sr",))
    assert teacher.keys.checkpoint_key(0, ("iwm",)) == p.keys.checkpoint_key(0, ("iwm",))
    assert p.keys.checkpoint_key(0, ("iwm", "il")) != p.keys.checkpoint_key(0, ("il",))


def _ee_config(tmp_path, *extra):
    return _config(
        tmp_path, "name=ee", "env.id=twx/twc", "data.train_tasks=2", "data.eval_tasks=1",
        "alternatives.mode=admissible", "sr.max_steps=1", "sr.batch_size=2",
        "sr.max_new_tokens=8", "iwm.max_steps=1", "iwm.batch_size=2", "il.max_steps=1",
        "il.batch_size=2", "rollout.enabled=false", *extra,
    )


def test_sr_and_iwm_run_end_to_end_on_a_real_environment(tmp_path, monkeypatch):
    """collect -> pairs -> branch TWC -> teacher rationales -> SR; IWM -> IL; report."""
    import actrain.data.rationales as rationales_module

    seen: list[str] = []

    def teacher(model, tokenizer, prompts, **kwargs):  # the tiny random model writes only "\n"
        seen.extend(prompts)
        return [[f"Because it helps.\n\nignored {i}"] for i in range(len(prompts))]

    monkeypatch.setattr(rationales_module, "generate", teacher)
    p = Pipeline(_ee_config(tmp_path), ["sr", "iwm_il"], [0])
    p.run()
    outcomes = read_jsonl(p.layout.train_outcomes)
    rationales = read_jsonl(p.layout.train_rationales)
    assert outcomes and len(rationales) == len(outcomes) == len(seen)
    assert all(r["rationale"] == "Because it helps." for r in rationales)
    assert all(o["expert_outcome"] in prompt for o, prompt in zip(outcomes, seen, strict=True))
    stats = read_json(p.layout.dir / "rationales" / "stats.json")
    assert stats == {"outcomes": len(outcomes), "rationales": len(outcomes), "empty": 0,
                     "teacher": "tiny-random"}
    for prefix in (("sr",), ("iwm",), ("iwm", "il")):
        assert (p.layout.stage_dir(0, prefix) / "checkpoint" / "config.json").exists()
    iwm = read_json(p.layout.stage_dir(0, ("iwm",)) / "length.json")
    assert iwm["steps"] == 1 and iwm["dataset_rows"] == 2 * len(outcomes)
    sr = read_json(p.layout.stage_dir(0, ("sr",)) / "length.json")
    states = sum(len(t["steps"]) for t in read_jsonl(p.layout.train_traj))
    assert sr["dataset_rows"] == len(outcomes) + states  # rationales mixed with IL
    report = (p.layout.dir / "report.md").read_text()
    assert "Early Experience IWM" in report and "Stage lengths" in report
    assert "usable rationales from `tiny-random`" in report


def test_a_teacher_that_writes_nothing_usable_stops_sr_with_one_clear_error(tmp_path):
    # The tiny random model's greedy output is blank lines: nothing survives cleaning.
    p = Pipeline(_ee_config(tmp_path), ["sr"], [0])
    with pytest.raises(ActrainError, match="no usable rationales"):
        p.run()
    assert read_json(p.layout.dir / "rationales" / "stats.json")["rationales"] == 0


def _teacher_writes(monkeypatch, outputs: list[str]) -> list[str]:
    """Script the teacher: the i-th prompt gets `outputs[i]`; returns the prompts it saw."""
    import actrain.data.rationales as rationales_module

    seen: list[str] = []

    def teacher(model, tokenizer, prompts, **kwargs):
        start = len(seen)
        seen.extend(prompts)
        return [[outputs[start + i]] for i in range(len(prompts))]

    monkeypatch.setattr(rationales_module, "generate", teacher)
    return seen


def test_a_thinking_teachers_rationale_is_its_answer_never_its_thinking(monkeypatch, tokenizer):
    from actrain.data.rationales import write_rationales
    from actrain.prompts import ActorView

    _teacher_writes(monkeypatch, [
        "<think>\nOkay, let's see. The user wants me to explain why.\n</think>\n\n"
        "Taking the shirt is the tidying step.",
        "<think>\nOkay, let's see. The user wants me to explain",  # cut off while thinking
    ])
    outcomes = [_outcome(0), _outcome(1)]
    records, stats = write_rationales(None, tokenizer, outcomes, ActorView(), 16, 2, "float32")
    assert [r.rationale for r in records] == ["Taking the shirt is the tidying step.", ""]
    assert records[1].teacher_output.startswith("<think>")  # kept for inspection
    assert stats == {"outcomes": 2, "rationales": 1, "empty": 1, "thinking_cut": 1}


def test_one_reflection_compares_the_expert_action_with_all_of_its_states_alternatives(
    monkeypatch, tokenizer,
):
    """Early Experience's reflection shows the expert's action and K alternatives at once."""
    from actrain.data.rationales import write_rationales
    from actrain.prompts import ActorView, pair_state, render_state

    seen = _teacher_writes(monkeypatch, ["Only the shirt tidies up.", "It helps."])
    look = _outcome(0).replace(alternative="look", alternative_outcome="A bedroom.")
    outcomes = [_outcome(0), look, _outcome(1)]  # state 0 has two alternatives, state 1 one
    records, stats = write_rationales(None, tokenizer, outcomes, ActorView(), 16, 2, "float32")
    assert len(seen) == len(records) == 2
    assert all(s in seen[0] for s in ("inventory", "You carry nothing.", "look", "A bedroom.",
                                      "You take the shirt."))
    assert records[0].alternatives == ["inventory", "look"]
    assert records[0].alternative_outcomes == ["You carry nothing.", "A bedroom."]
    assert records[1].alternatives == ["inventory"]
    # K = 1 keeps the one-alternative prompt word for word
    state = render_state(pair_state(_outcome(1)), ActorView().show_admissible)
    assert seen[1] == rationale_prompt(tokenizer, state, "take shirt", "inventory",
                                       "You take the shirt.", "You carry nothing.")
    assert stats == {"outcomes": 3, "rationales": 2, "empty": 0}
    assert len(sr_rows(tokenizer, records, ActorView())) == 2  # one row a state


def test_a_thinking_agent_learns_the_rationale_as_its_thinking(tmp_path, tokenizer):
    """Qwen3 reasons inside <think>: SR's rationale goes there, the action after the block, as
    the template frames every answer (IL's rows open with the same block, empty)."""
    import copy

    thinking = copy.deepcopy(tokenizer)
    thinking.chat_template = (
        "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n"
        "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% if enable_thinking "
        "is defined and enable_thinking is false %}<think>\n\n</think>\n\n{% endif %}{% endif %}"
    )
    rows = sr_rows(thinking, [_rationale(0)], stage_inputs(_config(tmp_path), "sr").view)
    assert rows[0]["completion"] == ("<think>\nTaking the shirt moves the tidying on.\n</think>"
                                     "\n\n<action>take shirt</action>")
