"""report.md from stored run files (no model needed)."""

from actrain.config import load_config
from actrain.io import write_json, write_jsonl
from actrain.report import write_report

BASE = {"pairs": 40, "accuracy": 0.5, "accuracy_expert_first": 0.0,
        "accuracy_expert_second": 1.0, "balanced_accuracy": 0.5,
        "format_failure_rate": 0.0, "picks_first_rate": 0.0}
ACT = {"pairs": 40, "accuracy": 0.8, "accuracy_expert_first": 0.75,
       "accuracy_expert_second": 0.85, "balanced_accuracy": 0.8,
       "format_failure_rate": 0.05, "picks_first_rate": 0.45}


def test_report_from_stored_results(tmp_path):
    write_json(tmp_path / "critic" / "base.json", BASE)
    write_json(tmp_path / "critic" / "act.json", ACT)
    history = [{"step": i, "reward": 0.1 * i, "rewards/accuracy/mean": 0.5 + 0.05 * i,
                "frac_reward_zero_std": 0.25} for i in range(1, 6)]
    write_json(tmp_path / "act" / "log_history.json", history)
    write_jsonl(tmp_path / "act" / "critic_curve.jsonl",
                [{"step": 5, **ACT}])
    write_json(tmp_path / "pairs" / "stats.json", {"train": {
        "states": 10, "candidates": 20, "malformed": 5, "equals_expert": 1,
        "not_admissible": 4, "duplicate": 0, "from_policy": 6, "random_fallback": 4,
        "states_without_alternative": 0}})
    text = write_report(tmp_path, load_config(None, ["name=r"])).read_text()
    assert "| base (smollm2-135m) | 40 | 50.0% | 0.0% | 100.0% | 0.0% | 0.0% |" in text
    assert "| after ACT | 40 | 80.0% | 75.0% | 85.0% | 5.0% | 45.0% |" in text
    assert "| 5 | 80.0% | 75.0% | 85.0% | 5.0% |" in text
    assert "6 sampled from the base policy, 4 random admissible fallbacks (40%)" in text
    assert "accuracy 0.65" in text  # mean of the last steps' training accuracy
    png = tmp_path / "plots" / "act_training.png"
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_report_without_results_says_so(tmp_path):
    text = write_report(tmp_path, load_config(None)).read_text()
    assert "no critic evaluation yet" in text
