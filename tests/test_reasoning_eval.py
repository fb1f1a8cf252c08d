"""General reasoning evaluation: MATH-500 / GPQA-Diamond files in their published formats,
boxed and letter extraction, normalisation, seeded option shuffles, scoring and the CLI."""

from __future__ import annotations

import csv
import json
import statistics

import pytest

from actrain.cli.main import main
from actrain.errors import ActrainError
from actrain.eval import reasoning as reasoning_eval
from actrain.eval.reasoning import (
    GPQA_COLUMNS,
    evaluate_reasoning,
    extract_letter,
    format_table,
    last_boxed,
    load_gpqa,
    load_math,
    normalize_math,
    shuffled_options,
)

MATH_ITEMS = [
    {"problem": "What is $1+1$?", "solution": "$1+1=\\boxed{2}$.", "answer": "2",
     "subject": "Prealgebra", "level": 1, "unique_id": "test/prealgebra/1.json"},
    {"problem": "Simplify $\\frac{2}{4}$.", "solution": "It is $\\boxed{\\frac{1}{2}}$.",
     "answer": "\\frac{1}{2}", "subject": "Algebra", "level": 2,
     "unique_id": "test/algebra/2.json"},
    {"problem": "Convert $(0,3)$ to polar coordinates.", "solution": "...",
     "answer": "\\left( 3, \\frac{\\pi}{2} \\right)", "subject": "Precalculus", "level": 2,
     "unique_id": "test/precalculus/807.json"},
]
GPQA_ROWS = [
    {"Pre-Revision Question": "x", "Question": "Which particle is a lepton?",
     "Correct Answer": " electron", "Incorrect Answer 1": "proton ",
     "Incorrect Answer 2": "neutron", "Incorrect Answer 3": "pion\n",
     "Record ID": "rec1", "Subdomain": "Physics"},
    {"Pre-Revision Question": "y", "Question": "What is the pH of pure water at 25 C,\n"
     "approximately?", "Correct Answer": "7", "Incorrect Answer 1": "1",
     "Incorrect Answer 2": "14", "Incorrect Answer 3": "4", "Record ID": "rec2",
     "Subdomain": "Chemistry"},
    {"Pre-Revision Question": "z", "Question": "Which base pairs with adenine in DNA?",
     "Correct Answer": "thymine", "Incorrect Answer 1": "uracil",
     "Incorrect Answer 2": "cytosine", "Incorrect Answer 3": "guanine", "Record ID": "rec3",
     "Subdomain": "Biology"},
]


def write_math(path, items=MATH_ITEMS):
    path.write_text("".join(json.dumps(i) + "\n" for i in items))
    return path


def write_gpqa(path, rows=GPQA_ROWS, columns=None):
    columns = columns or list(GPQA_ROWS[0])
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


# -- extraction and normalisation ---------------------------------------------------------

def test_last_boxed_matches_nested_braces_and_takes_the_last():
    assert last_boxed("so $\\boxed{\\frac{1}{\\sqrt{2}}}$.") == "\\frac{1}{\\sqrt{2}}"
    assert last_boxed("\\boxed{1} no, \\boxed{2}") == "2"
    assert last_boxed("first \\boxed{3}, finally \\fbox{4}") == "4"
    assert last_boxed("\\boxed{\\{1, 2\\}}") == "\\{1, 2\\}"
    assert last_boxed("\\boxed 5$") == "5"


def test_last_boxed_none_without_a_complete_box():
    assert last_boxed("the answer is 2") is None
    assert last_boxed("\\boxed{\\frac{1}{2}") is None  # cut off by max_new_tokens
    assert last_boxed("") is None


@pytest.mark.parametrize(("predicted", "gold"), [
    ("\\dfrac{1}{2}", "\\frac{1}{2}"),
    ("\\tfrac12", "\\frac{1}{2}"),
    ("\\left( 3, \\frac{\\pi}{2} \\right)", "(3,\\frac{\\pi}{2})"),
    ("90^\\circ", "90"),
    ("90^{\\circ}", "90"),
    ("$5$.", "5"),
    ("x = 5", "5"),
    ("10\\text{ cm}", "10cm"),
    ("\\text{(C)}", "(C)"),
    ("\\!1,\\!000", "1,000"),
    ("3/4", "\\frac{3}{4}"),
    (".5", "0.5"),
])
def test_normalize_equal(predicted, gold):
    assert normalize_math(predicted) == normalize_math(gold)


@pytest.mark.parametrize(("predicted", "gold"), [
    ("0.5", "\\frac{1}{2}"),  # not a numeric grader
    ("\\theta=5", "5"),  # only a single-letter variable assignment is dropped
    ("x=5", "y=6"),
    ("\\frac{1}{3}", "\\frac{1}{2}"),
    ("2\\sqrt{2}", "\\sqrt{2}"),
])
def test_normalize_keeps_different_answers_different(predicted, gold):
    assert normalize_math(predicted) != normalize_math(gold)


@pytest.mark.parametrize(("text", "letter"), [
    ("Reasoning...\nAnswer: B", "B"),
    ("**Answer:** (C)", "C"),
    ("answer: **d**", "D"),
    ("Answer: A\nWait, that is wrong.\nANSWER: (D)", "D"),
    ("so the final answer is $\\boxed{\\text{(B)}}$", "B"),
    ("Answer: Because of symmetry", None),
    ("the answer: a reaction occurs", None),
    ("I am not sure.", None),
])
def test_extract_letter(text, letter):
    assert extract_letter(text) == letter


# -- files ----------------------------------------------------------------------------------

def test_load_math_reads_the_published_jsonl(tmp_path):
    items = load_math(write_math(tmp_path / "test.jsonl"))
    assert [i["id"] for i in items] == [m["unique_id"] for m in MATH_ITEMS]
    assert items[1]["answer"] == "\\frac{1}{2}"
    assert len(load_math(tmp_path / "test.jsonl", limit=2)) == 2


def test_load_gpqa_reads_the_published_csv(tmp_path):
    items = load_gpqa(write_gpqa(tmp_path / "gpqa_diamond.csv"))
    assert [i["id"] for i in items] == ["rec1", "rec2", "rec3"]
    assert items[0]["correct"] == "electron" and items[0]["incorrect"][2] == "pion"
    assert "\n" in items[1]["question"]  # a quoted multi-line field stays one row


def test_missing_file_is_one_clear_error(tmp_path):
    with pytest.raises(ActrainError, match="nope.jsonl does not exist"):
        load_math(tmp_path / "nope.jsonl")
    with pytest.raises(ActrainError, match="gpqa_diamond.csv does not exist"):
        load_gpqa(tmp_path / "gpqa_diamond.csv")


def test_bad_json_line_names_file_and_line(tmp_path):
    path = write_math(tmp_path / "test.jsonl")
    path.write_text(path.read_text() + "{not json\n")
    with pytest.raises(ActrainError, match=r"test.jsonl: line 4 is not valid JSON"):
        load_math(path)
    path.write_text(json.dumps({"problem": "p"}) + "\n")
    with pytest.raises(ActrainError, match=r"line 1 is not a MATH-500 record \(missing answer\)"):
        load_math(path)


def test_missing_column_and_broken_row(tmp_path):
    columns = [c for c in GPQA_ROWS[0] if c != "Incorrect Answer 3"]
    path = write_gpqa(tmp_path / "gpqa_diamond.csv", columns=columns)
    with pytest.raises(ActrainError, match="gpqa_diamond.csv: not a GPQA CSV, missing "
                                           "column.*Incorrect Answer 3"):
        load_gpqa(path)
    path = tmp_path / "short.csv"
    path.write_text(",".join(GPQA_COLUMNS) + "\nq,right,w1\n")
    with pytest.raises(ActrainError, match=r"short.csv: row 1 .*has no Incorrect Answer 2"):
        load_gpqa(path)
    path.write_text(",".join(GPQA_COLUMNS) + "\nq,a,b,c,d,extra\n")
    with pytest.raises(ActrainError, match="more fields than the header"):
        load_gpqa(path)


# -- GPQA shuffles --------------------------------------------------------------------------

def test_shuffle_is_deterministic_per_seed_and_tracks_the_correct_answer(tmp_path):
    items = load_gpqa(write_gpqa(tmp_path / "gpqa_diamond.csv"))
    orders = {}
    for seed in range(6):
        for index, item in enumerate(items):
            options, letter = shuffled_options(item, seed, index)
            assert (options, letter) == shuffled_options(item, seed, index)
            assert sorted(options) == sorted([item["correct"], *item["incorrect"]])
            assert options["ABCD".index(letter)] == item["correct"]
            orders.setdefault(index, set()).add(tuple(options))
    assert all(len(o) > 1 for o in orders.values())  # seeds reorder the options


# -- scoring --------------------------------------------------------------------------------

class StubTokenizer:
    def apply_chat_template(self, messages, tokenize, add_generation_prompt):
        assert not tokenize and add_generation_prompt
        return "".join(f"<{m['role']}>{m['content']}" for m in messages) + "<assistant>"


def stub_generate(answer_for):
    """A generator whose completion for each prompt is `answer_for(prompt)`."""
    calls = []

    def fake(model, tokenizer, prompts, *, num_samples, seed, desc, **kwargs):
        calls.append(seed)
        return [[answer_for(p)] for p in prompts]

    return fake, calls


def test_math_scoring_with_a_stub_generator(tmp_path, monkeypatch):
    replies = {"1+1": "So \\boxed{2}.", "Simplify": "It is \\boxed{\\dfrac{1}{2}}",
               "polar": "I think it is (3, pi/2)."}  # the last one has no box
    fake, calls = stub_generate(lambda p: next(v for k, v in replies.items() if k in p))
    monkeypatch.setattr(reasoning_eval, "generate", fake)
    items = load_math(write_math(tmp_path / "test.jsonl"))
    result = evaluate_reasoning(None, StubTokenizer(), {"math500": items}, seeds=[0, 1])
    math = result["benchmarks"]["math500"]
    assert math["n"] == 3
    assert math["accuracy_per_seed"] == {"0": pytest.approx(2 / 3), "1": pytest.approx(2 / 3)}
    # greedy: the seeds repeat one run, so there is no spread to report (not a std of 0)
    assert round(math["accuracy_mean"], 3) == 0.667 and math["accuracy_std"] is None
    assert math["runs"] == 1 and math["truncated_rate"] == 0.0
    assert math["format_failure_rate"] == pytest.approx(1 / 3)
    rows = math["predictions"]["0"]
    assert [r["correct"] for r in rows] == [True, True, False]
    assert rows[1]["extracted"] == "\\dfrac{1}{2}" and rows[2]["extracted"] is None
    assert rows[0]["id"] == "test/prealgebra/1.json"
    assert calls == [0]  # greedy: the same prompts are not generated again for seed 1
    assert "math500" in format_table(result) and "0.667 (one run)" in format_table(result)
    assert "one run, no std" in format_table(result)


def test_gpqa_mean_and_std_over_seeds(tmp_path, monkeypatch):
    items = load_gpqa(write_gpqa(tmp_path / "gpqa_diamond.csv"))

    def letter_of(prompt, text):
        line = next(x for x in prompt.split("\n") if x.endswith(f") {text}"))
        return line[0]

    # Always right on the lepton question, always "Answer: B" on the pH one, and no answer
    # on the DNA one: per-seed accuracy depends on where the shuffle puts "7".
    def answer(prompt):
        if "lepton" in prompt:
            return f"Leptons... **Answer:** ({letter_of(prompt, 'electron')})"
        return "Answer: B" if "pH" in prompt else "It depends."

    fake, calls = stub_generate(answer)
    monkeypatch.setattr(reasoning_eval, "generate", fake)
    seeds = [0, 1, 2, 3]
    result = evaluate_reasoning(None, StubTokenizer(), {"gpqa_diamond": items}, seeds=seeds,
                                temperature=0.7)
    gpqa = result["benchmarks"]["gpqa_diamond"]
    expected = [(1 + (shuffled_options(items[1], s, 1)[1] == "B")) / 3 for s in seeds]
    assert len(set(expected)) > 1  # the seeds' shuffles do differ here
    assert list(gpqa["accuracy_per_seed"].values()) == pytest.approx(expected)
    assert gpqa["accuracy_mean"] == pytest.approx(statistics.mean(expected))
    assert gpqa["accuracy_std"] == pytest.approx(statistics.stdev(expected))
    assert gpqa["accuracy_std"] > 0
    assert gpqa["format_failure_rate"] == pytest.approx(1 / 3)
    assert calls == seeds  # sampling: each seed generates, seeded with itself
    golds = [r["gold"] for r in gpqa["predictions"]["0"]]
    assert golds == [shuffled_options(item, 0, i)[1] for i, item in enumerate(items)]


# -- CLI ------------------------------------------------------------------------------------

def test_cli_needs_a_benchmark_and_reports_bad_files(tmp_path, capsys):
    assert main(["eval-reasoning", "--model", "tiny-random"]) == 1
    assert "needs --math FILE and/or --gpqa FILE" in capsys.readouterr().err
    assert main(["eval-reasoning", "--model", "tiny-random", "--gpqa",
                 str(tmp_path / "gpqa_diamond.csv")]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "gpqa_diamond.csv does not exist" in err


def test_cli_on_the_tiny_model_writes_json(tmp_path, capsys):
    out = tmp_path / "results.json"
    argv = ["eval-reasoning", "--model", "tiny-random", "--math",
            str(write_math(tmp_path / "test.jsonl")), "--gpqa",
            str(write_gpqa(tmp_path / "gpqa_diamond.csv")), "--seeds", "0", "1", "--limit", "2",
            "--max-new-tokens", "8", "--dtype", "float32", "--out", str(out)]
    assert main(argv) == 0
    table = capsys.readouterr().out
    assert "math500" in table and "gpqa_diamond" in table
    result = json.loads(out.read_text())
    assert result["model"] == "tiny-random" and result["seeds"] == [0, 1]
    for name in ("math500", "gpqa_diamond"):
        bench = result["benchmarks"][name]
        assert bench["n"] == 2 and set(bench["accuracy_per_seed"]) == {"0", "1"}
        assert 0 <= bench["accuracy_mean"] <= 1
        # greedy: MATH's seeds repeat one run; GPQA's reshuffle the options
        assert (bench["accuracy_std"] is None) == (name == "math500")
        assert len(bench["predictions"]["1"]) == 2
        assert {"id", "extracted", "correct"} <= set(bench["predictions"]["0"][0])
