"""Typed records (`actrain.records`): the lines run steps write give back the same bytes, a bad
line is one clear error naming its field, and the API and the pairs step build a pair alike."""

import json

import pytest

from actrain.errors import ActrainError
from actrain.records import (
    CriticPrediction,
    EpisodeRecord,
    NextActionRecord,
    Outcome,
    Pair,
    Rationale,
    Record,
    Step,
    Trajectory,
)
from actrain.runtime.io import (
    read_episodes,
    read_next_action_records,
    read_outcomes,
    read_pairs,
    read_predictions,
    read_rationales,
    read_trajectories,
    write_jsonl,
)

STATE = {"task": "train:3", "step": 1, "task_description": "Tidy up the house.",
         "history": [["You are in the kitchen.", "go east"]],
         "observation": "You are in the bedroom. You see a shirt.",
         "context": "Bedroom.\nYou carry nothing.",
         "admissible": ["take shirt", "inventory", "go west"], "expert_action": "take shirt",
         "alternative": "inventory"}
PAIR = {**STATE, "alternative_source": "policy", "actions": ["inventory", "take shirt"],
        "expert_first": False, "label": 1}
OUTCOME = {**STATE, "expert_outcome": "You take the shirt.",
           "alternative_outcome": "You carry nothing."}
# Real shapes, in the order the writers put the keys (runs/*/trajectories, pairs, agent, critic).
EXAMPLES: list[tuple[type[Record], dict]] = [
    (Trajectory, {"task": "train:0", "task_description": "Tidy up.", "steps": [
        {"observation": "You see a shirt.", "admissible": ["take shirt", "look"],
         "expert_action": "take shirt", "context": ""}], "won": True, "score": 1.0}),
    # an exploring oracle's trajectory: its steps' keys in another order, and `explore`
    (Trajectory, {"task": "train:1", "task_description": "Cook.", "steps": [
        {"observation": "Kitchen.", "context": "", "admissible": ["open fridge", "look"],
         "expert_action": "open fridge", "off_path": True, "action": "look"}],
        "won": False, "score": 0, "explore": 0.3}),
    (Pair, PAIR),
    (Pair, {k: v for k, v in PAIR.items() if k != "context"}),  # actrain.pair has no context
    (Outcome, OUTCOME),
    (Rationale, {**OUTCOME, "alternatives": ["inventory", "look"],
                 "alternative_outcomes": ["You carry nothing.", "A bedroom."],
                 "rationale": "The shirt is what the task needs.",
                 "teacher_output": "<think>\n</think>The shirt is what the task needs."}),
    (NextActionRecord, {"split": "id_test", "task": "id_test:0", "step": 2,
                        "expert_action": "take shirt", "action": None, "correct": False,
                        "malformed": True, "truncated": False, "completion": "I think"}),
    (CriticPrediction, {"task": "id_test:0", "step": 0, "actions": ["a", "b"], "label": 0,
                        "expert_first": True, "picked": None, "completion": "", "sample": 1}),
    (EpisodeRecord, {"task": "id_test:3", "won": True, "score": 1.0, "score_raw": 1.0,
                     "steps": 2, "invalid_actions": 1, "malformed": 1, "hit_max_steps": False,
                     "transcript": [
                         {"completion": "x", "action": "take apple", "valid": True,
                          "observation": "Taken."},
                         {"completion": "y", "action": None, "think_open": True, "valid": False,
                          "observation": "(no action)"}],
                     "split": "id_test"}),
]


@pytest.mark.parametrize(("record_type", "data"), EXAMPLES,
                         ids=[f"{t.__name__}-{i}" for i, (t, _) in enumerate(EXAMPLES)])
def test_a_record_gives_back_the_very_line_it_was_read_from(record_type, data):
    line = json.dumps(data, ensure_ascii=False)
    record = record_type.from_json(json.loads(line))
    assert json.dumps(record.to_json(), ensure_ascii=False) == line
    assert record_type.from_json(record.to_json()) == record


def test_unknown_keys_and_a_foreign_key_order_round_trip():
    data = {"label": 1, **{k: v for k, v in PAIR.items() if k != "label"}, "mine": {"x": [1]}}
    pair = Pair.from_json(data)
    assert pair.extra == {"mine": {"x": [1]}}
    assert json.dumps(pair.to_json()) == json.dumps(data)
    flipped = pair.shown(["take shirt", "inventory"], 0)  # a copy keeps the order and extras
    assert list(flipped.to_json()) == list(data) and flipped.expert_first


def test_files_written_from_records_are_byte_identical(tmp_path):
    readers = {Trajectory: read_trajectories, Pair: read_pairs, Outcome: read_outcomes,
               Rationale: read_rationales, NextActionRecord: read_next_action_records,
               CriticPrediction: read_predictions, EpisodeRecord: read_episodes}
    for i, (record_type, data) in enumerate(EXAMPLES):
        path = tmp_path / f"{i}.jsonl"
        path.write_text(json.dumps(data, ensure_ascii=False) + "\n", encoding="utf-8")
        records = readers[record_type](path)
        assert all(isinstance(r, record_type) for r in records)
        again = tmp_path / f"{i}.again.jsonl"
        write_jsonl(again, records)
        assert again.read_bytes() == path.read_bytes()


def test_a_missing_field_is_one_line_naming_it():
    with pytest.raises(ActrainError, match="missing field label") as caught:
        Pair.from_json({k: v for k, v in PAIR.items() if k != "label"})
    assert "\n" not in str(caught.value)
    with pytest.raises(ActrainError, match=r"field steps\[1\]\.expert_action is missing"):
        Trajectory.from_json({"task": "t", "task_description": "d", "steps": [
            {"observation": "o", "expert_action": "a"}, {"observation": "o"}]})


def test_a_wrongly_typed_field_is_one_line_naming_it():
    with pytest.raises(ActrainError, match="field label must be an integer, got a string"):
        Pair.from_json({**PAIR, "label": "1"})
    with pytest.raises(ActrainError, match=r"field history\[0\] must be an \[observation"):
        Pair.from_json({**PAIR, "history": [["only the observation"]]})
    with pytest.raises(ActrainError, match="field expert_first must be a boolean"):
        Pair.from_json({**PAIR, "expert_first": 1})
    with pytest.raises(ActrainError, match="field won must not be null"):
        Trajectory.from_json({"task": "t", "task_description": "d", "steps": [], "won": None})


def test_a_bad_line_of_a_file_names_the_file_the_line_and_the_field(tmp_path):
    path = tmp_path / "pairs.jsonl"
    path.write_text(json.dumps(PAIR) + "\n" + json.dumps({**PAIR, "step": "0"}) + "\n")
    with pytest.raises(ActrainError, match=r"pairs.jsonl: line 2 is not a pair record: field "
                                           r"step must be an integer, got a string"):
        read_pairs(path)


def test_the_api_and_the_pairs_step_build_a_pair_with_one_constructor(monkeypatch):
    import actrain
    from actrain.data import pairs as pairs_step
    from actrain.prompts import State

    made = []
    original = Pair.make.__func__

    def spy(cls, **fields):
        made.append(fields)
        return original(cls, **fields)

    monkeypatch.setattr(Pair, "make", classmethod(spy))
    state = State("Tidy up the house.", (("You are in the kitchen.", "go east"),),
                  "You are in the bedroom. You see a shirt.", ("take shirt", "inventory"), "")
    record = pairs_step.StateRecord("train:3", 1, state, "take shirt")
    from_step = pairs_step.pair_record(record, "inventory", "policy", expert_first=False)
    from_api = actrain.pair("Tidy up the house.", "You are in the bedroom. You see a shirt.",
                            "take shirt", "inventory", admissible=["take shirt", "inventory"],
                            history=[("You are in the kitchen.", "go east")],
                            expert_first=False, task="train:3", step=1)
    assert len(made) == 2 and isinstance(from_api, Pair) and isinstance(from_step, Pair)
    # the same pair, but for the context only the pairs step knows (and the source)
    step_json = from_step.to_json()
    assert step_json.pop("context") == ""
    assert step_json == {**from_api.to_json(), "alternative_source": "policy"}
    assert list(step_json) == list(from_api.to_json())
    assert from_api.actions == ["inventory", "take shirt"] and from_api.label == 1


def test_steps_know_the_action_taken_and_outcomes_copy_the_pairs_state():
    explored = Step.explored(observation="o", context="", admissible=["a", "b"],
                             expert_action="a", off_path=False, action="b")
    assert explored.taken == "b" and Step(observation="o", expert_action="a").taken == "a"
    assert list(explored.to_json()) == ["observation", "context", "admissible",
                                        "expert_action", "off_path", "action"]
    pair = Pair.from_json(PAIR)
    outcome = Outcome.of(pair, "You take the shirt.", "You carry nothing.")
    assert outcome.to_json() == OUTCOME and list(outcome.to_json()) == list(OUTCOME)
    rationale = Rationale.of([outcome, outcome.replace(alternative="look")], "why", "text")
    assert rationale.alternatives == ["inventory", "look"] and rationale.task == "train:3"


def test_dicts_from_users_become_records_and_records_stay_themselves():
    pair = Pair.from_json(PAIR)
    assert Pair.coerce_all([PAIR, pair]) == [pair, pair]
    assert Pair.coerce(pair) is pair
