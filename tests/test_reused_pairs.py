"""Cross-model pair reuse: `alternatives.pairs_from` trains on pairs another run sampled."""

import pytest

from actrain.config.schema import load_config
from actrain.errors import ActrainError
from actrain.run.pipeline import Pipeline
from actrain.runtime.io import read_json, read_jsonl, write_jsonl


def _pipeline(tmp_path, name, *extra):
    config = load_config(None, [
        f"runs_dir={tmp_path}", f"name={name}", "model=tiny-random", "dtype=float32",
        "env.id=twx/twc", "data.train_tasks=2", "data.eval_tasks=1",
        "alternatives.mode=admissible", *extra])
    return Pipeline(config, ["act"], [0])


def test_pairs_from_another_run_are_reused_checked_and_named_in_the_report(tmp_path):
    source = _pipeline(tmp_path, "sampler", "alternatives.temperature=2.0")
    source.run(until="pairs")
    target = _pipeline(tmp_path, "learner", f"alternatives.pairs_from={source.layout.dir}",
                       "act.max_steps=1", "act.num_generations=2", "act.prompts_per_step=2",
                       "critic.max_new_tokens=1", "rollout.enabled=false")
    target.run()
    for split in ("train", "id_test"):
        assert read_jsonl(target.layout.dir / "pairs" / f"{split}.jsonl") == \
            read_jsonl(source.layout.dir / "pairs" / f"{split}.jsonl")
    stats = read_json(target.layout.dir / "pairs" / "stats.json")
    assert stats["train"]["source_model"] == "tiny-random"
    assert stats["train"]["reused_from"] == str(source.layout.dir / "pairs")
    assert stats["train"]["states"] == read_json(source.layout.dir / "pairs" / "stats.json")["train"][
        "states"]
    assert "reused from" in (target.layout.dir / "report.md").read_text()
    # the key follows the pairs' content, not the settings of a sampler that did not run here
    same = _pipeline(tmp_path, "learner", f"alternatives.pairs_from={source.layout.dir}",
                     "alternatives.temperature=0.1")
    assert same.keys.data_key("pairs") == target.keys.data_key("pairs")
    before = target.keys.data_key("pairs")
    write_jsonl(source.layout.train_pairs, read_jsonl(source.layout.train_pairs)[:-1])
    assert target.keys.data_key("pairs") != before


def test_pairs_of_other_expert_data_are_one_clear_error(tmp_path):
    source = _pipeline(tmp_path, "sampler")
    source.run(until="pairs")
    other = _pipeline(tmp_path, "other", "data.train_tasks=1",
                      f"alternatives.pairs_from={source.layout.dir}")
    with pytest.raises(ActrainError, match="not a state of this run's expert trajectories"):
        other.run(until="pairs")
    with pytest.raises(ActrainError, match="holds no pairs"):
        _pipeline(tmp_path, "x", f"alternatives.pairs_from={tmp_path / 'nowhere'}").run()
