"""The supervised choice ablations (`act.objective: sft | dpo`) on states longer than TRL's
default max_length: every row keeps its answer, the only part either objective learns from."""

import pytest
from helpers.pairs import make_pair

from actrain.config.schema import load_config
from actrain.errors import ActrainError
from actrain.stages.act_supervised import choice_examples, supervised_trainer
from actrain.stages.il import sequence_lengths
from actrain.stages.inputs import stage_inputs

LONG_ROOM = "You are in the storeroom. You see " + ", ".join(
    f"a crate labelled {i}" for i in range(250)) + "."


def _inputs(objective: str, *extra: str):
    config = load_config(None, ["model=tiny-random", "dtype=float32", f"act.objective={objective}",
                                "act.max_steps=1", "act.batch_size=2", *extra])
    return stage_inputs(config, "act")


@pytest.mark.parametrize("objective", ["sft", "dpo"])
def test_choice_rows_longer_than_1024_tokens_keep_their_answer(objective, tiny_model, tmp_path):
    model, tokenizer = tiny_model
    pairs = [make_pair(i, i % 2 == 0, observation=LONG_ROOM) for i in range(2)]
    inputs = _inputs(objective)
    examples = choice_examples(tokenizer, pairs, inputs)
    answers = [examples["chosen"]] if objective == "sft" else [examples["chosen"],
                                                               examples["rejected"]]
    lengths = sequence_lengths(tokenizer, examples["prompt"], *answers)
    assert lengths.longest_prompt > 1024  # past the old fixed max_length
    trainer = supervised_trainer(model, tokenizer, pairs, inputs, tmp_path, [])
    assert trainer.args.max_length == lengths.longest_row
    rows = trainer.train_dataset
    assert len(rows) == len(examples["prompt"])  # none dropped for being all prompt
    if objective == "sft":
        for row, answer in zip(rows, examples["chosen"], strict=True):
            labelled = [t for t in row["labels"][:trainer.args.max_length] if t != -100]
            assert tokenizer.decode(labelled) == answer + tokenizer.eos_token
    else:
        for row in rows:
            for side in ("chosen_ids", "rejected_ids"):
                assert len(row["prompt_ids"]) + len(row[side]) <= trainer.args.max_length
    from actrain.stages.common import stage_length

    trainer.state.global_step = 1
    recorded = stage_length(trainer)  # what the stage's length.json holds
    assert recorded["longest_prompt_tokens"] == lengths.longest_prompt
    assert recorded["max_length"] == lengths.longest_row


@pytest.mark.parametrize("objective", ["sft", "dpo"])
def test_a_choice_max_length_that_would_cut_the_answer_is_refused(objective, tiny_model,
                                                                  tmp_path):
    model, tokenizer = tiny_model
    pairs = [make_pair(0, observation=LONG_ROOM)]
    inputs = _inputs(objective, f"act.{objective}={{max_length: 1024}}")
    with pytest.raises(ActrainError, match=rf"act.{objective}.max_length 1024 would cut"):
        supervised_trainer(model, tokenizer, pairs, inputs, tmp_path, [])
