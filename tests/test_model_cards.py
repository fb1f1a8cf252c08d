"""Model cards: every trained checkpoint records what made it and how to prompt it, the card
gets the run's figures once evaluated, and `actrain push --dry-run` lists the folder it would
upload (the tests are offline)."""

import json

import yaml

from actrain.cli.main import main
from actrain.config.schema import load_config
from actrain.report.model_cards import card_text, checkpoint_record, hub_base


def test_pipeline_checkpoints_get_cards_with_figures(tmp_path, capsys):
    from test_cli import TINY

    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump({**TINY, "runs_dir": str(tmp_path / "runs")}))
    assert main(["run", str(path), "--until", "train"]) == 0
    ckpt = tmp_path / "runs" / "tiny" / "seed0" / "act" / "checkpoint"
    record = json.loads((ckpt / "actrain.json").read_text())
    assert record["method"] == "act" and record["base_model"] == "tiny-random"
    assert record["prompt_format"]["critic"]["answer_format"] == "index"
    assert record["prompt_format"]["actor"] == {"history_len": 1, "show_admissible": True,
                                                "reasoning": False, "il_thinking": "empty"}
    assert record["environment"]["id"] == "twx/twc"
    assert record["command"] == f"actrain run {path} --until train"
    assert record["stage_settings"]["act"]["act"]["max_steps"] == 1
    card = (ckpt / "README.md").read_text()
    meta = yaml.safe_load(card.split("---")[1])
    assert "base_model" not in meta and "actrain" in meta["tags"]  # tiny-random is no Hub id
    assert "Not evaluated yet" in card and "```jinja" in card  # chat template included

    assert main(["run", str(path)]) == 0  # evaluations, then the report rewrites the card
    assert main(["report", str(path)]) == 0
    card = (ckpt / "README.md").read_text()
    assert f"actrain run {path} --until train" in card  # the command that trained it
    critic = json.loads((tmp_path / "runs/tiny/critic/seed0-act.json").read_text())
    assert f"balanced accuracy {100 * critic['balanced_accuracy']:.1f}%" in card
    assert "Agent, `id_test`: success" in card and "Next action" in card

    capsys.readouterr()
    assert main(["push", str(ckpt), "--repo", "me/tiny-act", "--dry-run"]) == 0
    listed = capsys.readouterr().out.split()
    assert {"README.md", "actrain.json", "model.safetensors", "config.json"} <= set(listed)
    assert "training_args.bin" not in listed


def test_push_refuses_folders_without_card_or_weights(tmp_path, capsys):
    assert main(["push", str(tmp_path), "--repo", "me/x", "--dry-run"]) == 1
    assert "is not a checkpoint folder" in capsys.readouterr().err
    (tmp_path / "config.json").write_text("{}")
    assert main(["push", str(tmp_path), "--repo", "me/x", "--dry-run"]) == 1
    assert "has no model card" in capsys.readouterr().err


def test_card_marks_adapters_and_describes_the_prompt():
    config = load_config(None, ["critic.reasoning=true", "data.history_len=0"])
    settings = {"act": {"trainer": {"peft": {"enabled": True}}}}
    record = checkpoint_record(config, 1, ("act",), "cmd", settings)
    text = card_text(record, {}, "")
    assert "library_name: peft" in text
    assert "reasons first" in text and "last 0 step(s)" in text
    assert "arxiv.org/abs/2603.08706" in text
    meta = yaml.safe_load(text.split("---")[1])
    assert meta["base_model"] == "HuggingFaceTB/SmolLM2-135M-Instruct"  # the embedded default
    assert hub_base("Qwen/Qwen3-8B") == "Qwen/Qwen3-8B" and hub_base("runs/x/seed0/il/checkpoint") is None


def test_pairs_export_to_trl_preference_format(tmp_path, capsys):
    from test_cli import TINY
    from trl.data_utils import is_conversational, maybe_apply_chat_template

    from actrain.runtime.models import load_tokenizer

    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump({**TINY, "runs_dir": str(tmp_path / "runs")}))
    out = tmp_path / "prefs.jsonl"
    assert main(["export-pairs", str(path), "--out", str(out)]) == 1  # no pairs yet: one line
    assert "--until pairs" in capsys.readouterr().err
    assert main(["run", str(path), "--until", "pairs"]) == 0
    pairs = [json.loads(line) for line in (tmp_path / "runs/tiny/pairs/train.jsonl").open()]
    assert main(["export-pairs", str(path), "--out", str(out)]) == 0
    rows = [json.loads(line) for line in out.open()]
    assert len(rows) == len(pairs)
    row, pair = rows[0], pairs[0]
    assert is_conversational(row)
    assert row["chosen"] == [{"role": "assistant", "content": f"<action>{pair['expert_action']}</action>"}]
    assert row["rejected"][0]["content"] == f"<action>{pair['alternative']}</action>"
    text = maybe_apply_chat_template(row, load_tokenizer("tiny-random"))
    assert pair["observation"].strip()[:40] in text["prompt"]

    critic_out = tmp_path / "critic.jsonl"
    assert main(["export-pairs", str(path), "--out", str(critic_out), "--as", "critic",
                 "--split", "id_test"]) == 0
    rows = [json.loads(line) for line in critic_out.open()]
    held = [json.loads(line) for line in (tmp_path / "runs/tiny/pairs/id_test.jsonl").open()]
    assert len(rows) == len(held)  # held-out pairs are listed in both orders already
    for row, pair in zip(rows, held, strict=True):
        assert row["chosen"][0]["content"] == f"<answer>{pair['label'] + 1}</answer>"
        assert row["rejected"][0]["content"] == f"<answer>{2 - pair['label']}</answer>"
