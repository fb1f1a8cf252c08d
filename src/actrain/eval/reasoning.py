"""General reasoning of a checkpoint: MATH-500 and GPQA-Diamond with chain-of-thought prompts.

Agent training can cost general ability; this measures it on the two public benchmarks, read
from their published local files (HuggingFaceH4/MATH-500 `test.jsonl`, GPQA's
`gpqa_diamond.csv`), with the usual extraction rules: the last `\\boxed{}` for MATH, the last
`Answer: X` for GPQA. Each seed reshuffles GPQA's options and seeds sampling, so the spread over
seeds shows how much of a difference between checkpoints is noise. Thinking models want their
own sampling (Qwen3: temperature 0.6, top_p 0.95, top_k 20, never greedy) and long budgets
(MATH: 32k tokens); `truncated_rate` says how many responses were cut off while thinking.
"""

from __future__ import annotations

import csv
import json
import random
import re
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from actrain.errors import ActrainError
from actrain.prompts import (
    GPQA_PROMPT,
    MATH_PROMPT,
    TRUNCATION_WARNING,
    answer_region,
    opens_thinking,
    reasoning_prompt,
)
from actrain.runtime.generation import generate

MATH_FIELDS = ("problem", "answer")
GPQA_COLUMNS = ("Question", "Correct Answer", "Incorrect Answer 1", "Incorrect Answer 2",
                "Incorrect Answer 3")
LETTERS = "ABCD"
# "Answer: B", "**Answer:** (B)", "answer: **b**"; the rest of the line is looked at so that a
# lower-case letter counts only alone ("Answer: a reaction ..." is not an answer).
ANSWER_LINE = re.compile(
    r"answer\s*\**\s*:\s*[*_\s]*\(?\s*([A-D])\s*\)?(?![A-Za-z0-9])(?=([^\n]*))", re.IGNORECASE
)


def load_math(path: str | Path, limit: int | None = None) -> list[dict[str, Any]]:
    """MATH-500 items from its JSONL; a bad line is one error naming the file and the line."""
    items = []
    for number, line in enumerate(_read_text(path).splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ActrainError(f"{path}: line {number} is not valid JSON ({exc.msg})") from None
        missing = [k for k in MATH_FIELDS if not isinstance(record, dict) or k not in record]
        if missing:
            raise ActrainError(f"{path}: line {number} is not a MATH-500 record "
                               f"(missing {', '.join(missing)})")
        items.append({"id": str(record.get("unique_id") or f"line-{number}"),
                      "problem": str(record["problem"]), "answer": str(record["answer"])})
    return _limited(items, path, limit)


def load_gpqa(path: str | Path, limit: int | None = None) -> list[dict[str, Any]]:
    """GPQA items from the release's CSV (other columns ignored); options are stripped of the
    stray spaces and newlines the release has around them."""
    reader = csv.DictReader(_read_text(path).splitlines(keepends=True))
    items: list[dict[str, Any]] = []
    try:
        header = reader.fieldnames or []
        missing = [c for c in GPQA_COLUMNS if c not in header]
        if missing:
            raise ActrainError(f"{path}: not a GPQA CSV, missing column(s) {', '.join(missing)}")
        for row in reader:
            where = f"{path}: row {len(items) + 1} (ending on line {reader.line_num})"
            if None in row:
                raise ActrainError(f"{where} has more fields than the header's {len(header)}")
            empty = [c for c in GPQA_COLUMNS if not (row.get(c) or "").strip()]
            if empty:
                raise ActrainError(f"{where} has no {', '.join(empty)} (a short or broken row)")
            question, correct, *wrong = (row[c].strip() for c in GPQA_COLUMNS)
            items.append({"id": (row.get("Record ID") or "").strip() or f"row-{len(items) + 1}",
                          "question": question, "correct": correct, "incorrect": wrong})
    except csv.Error as exc:
        raise ActrainError(f"{path}: line {reader.line_num} is not valid CSV ({exc})") from None
    return _limited(items, path, limit)


def _read_text(path: str | Path) -> str:
    path = Path(path)
    if not path.is_file():
        raise ActrainError(f"{path} does not exist (or is not a file)")
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ActrainError(f"{path} is not UTF-8 text") from None


def _limited(items: list[dict[str, Any]], path: str | Path, limit: int | None) -> list[dict]:
    if not items:
        raise ActrainError(f"{path} holds no items")
    return items[:limit] if limit else items


def shuffled_options(item: dict[str, Any], seed: int, index: int) -> tuple[list[str], str]:
    """The four options in this seed's order for item `index`, and the correct letter.

    Seeded per (seed, item), so an item's order does not depend on which others are evaluated.
    """
    options = [item["correct"], *item["incorrect"]]
    random.Random(f"{seed}-{index}").shuffle(options)
    return options, LETTERS[options.index(item["correct"])]


def math_prompt(tokenizer: Any, item: dict[str, Any]) -> str:
    return reasoning_prompt(tokenizer, MATH_PROMPT.format(problem=item["problem"]))


def gpqa_prompt(tokenizer: Any, item: dict[str, Any], options: Sequence[str]) -> str:
    lines = "\n".join(f"{letter}) {text}" for letter, text in zip(LETTERS, options, strict=True))
    return reasoning_prompt(tokenizer, GPQA_PROMPT.format(question=item["question"],
                                                          options=lines))


def last_boxed(text: str) -> str | None:
    """Content of the last `\\boxed{...}` / `\\fbox{...}`, braces matched (answers nest them:
    `\\boxed{\\frac{1}{2}}`); `None` when there is none or it is cut off."""
    start = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if start < 0:
        return None
    rest = text[start + (6 if text.startswith("\\boxed", start) else 5) :]
    if not rest.lstrip().startswith("{"):
        match = re.match(r"\s+([^\s$]+)", rest)  # the old `\boxed 5` form
        return match.group(1) if match else None
    rest = rest.lstrip()
    depth, i = 0, 0
    while i < len(rest):
        char = rest[i]
        if char == "\\":
            i += 2  # `\{` and `\}` are literal braces, not grouping
            continue
        depth += (char == "{") - (char == "}")
        if depth == 0:
            return rest[1:i]
        i += 1
    return None


def _unwrap(text: str, command: str) -> str:
    """`\\text{cm}` -> `cm`, braces matched, so units and words compare as their content."""
    while (start := text.find(command + "{")) >= 0:
        depth, end = 0, start + len(command)
        for end in range(start + len(command), len(text)):
            depth += (text[end] == "{") - (text[end] == "}")
            if depth == 0:
                break
        else:
            return text
        text = text[:start] + text[start + len(command) + 1 : end] + text[end + 1 :]
    return text


def normalize_math(answer: str) -> str:
    """A MATH answer in canonical text, in the style of the MATH graders (Hendrycks et al.):
    layout-only differences vanish, mathematically different strings stay different."""
    text = answer.strip().replace("\n", "")
    for command in ("\\text", "\\textbf", "\\mathrm", "\\mbox"):
        text = _unwrap(text, command)
    for old, new in (("\\!", ""), ("\\,", ""), ("\\;", ""), ("\\:", ""), ("\\\\", "\\"),
                     ("\\dfrac", "\\frac"), ("\\tfrac", "\\frac"), ("\\left", ""),
                     ("\\right", ""), ("\\displaystyle", ""), ("^{\\circ}", ""),
                     ("^\\circ", ""), ("\\$", ""), ("$", ""), ("\\%", ""), ("%", "")):
        text = text.replace(old, new)
    text = re.sub(r"\s+", "", text).rstrip(".")
    text = re.sub(r"^([a-zA-Z])=(?!=)", "", text)  # `x=5` -> `5`, simple variables only
    text = re.sub(r"\\(frac|sqrt)(\d)", r"\\\1{\2}", text)  # `\frac12`, `\sqrt2`
    text = re.sub(r"\\frac\{(\d+)\}(\d)", r"\\frac{\1}{\2}", text)
    text = re.sub(r"^(-?\d+)/(\d+)$", r"\\frac{\1}{\2}", text)  # `3/4` -> `\frac{3}{4}`
    return re.sub(r"(^|[^\d])\.(\d)", r"\g<1>0.\2", text)  # `.5` -> `0.5`


def extract_letter(text: str) -> str | None:
    """GPQA's answer: the last `Answer: X`, else a final `\\boxed{X}`; `None` is a format
    failure (counted wrong)."""
    matches = [letter.upper() for letter, rest in ANSWER_LINE.findall(text)
               if letter.isupper() or re.fullmatch(r"[\s*_.)]*", rest)]
    if matches:
        return matches[-1]
    boxed = last_boxed(text)
    match = re.fullmatch(r"\(?([A-D])\)?", normalize_math(boxed)) if boxed is not None else None
    return match.group(1) if match else None


def _score(answer_text: str | None, gold: str, kind: str) -> dict[str, Any]:
    if kind == "math":
        extracted = last_boxed(answer_text) if answer_text is not None else None
        correct = extracted is not None and normalize_math(extracted) == normalize_math(gold)
    else:
        extracted = extract_letter(answer_text) if answer_text is not None else None
        correct = extracted == gold
    return {"extracted": extracted, "gold": gold, "correct": correct,
            "format_failure": extracted is None}


def _seed_prompts(
    tokenizer: Any, items: list[dict[str, Any]], kind: str, seed: int
) -> tuple[list[str], list[str]]:
    """The gold answers and the prompts of a benchmark under one seed: MATH's never change,
    GPQA's options come in the seed's order (and so does the gold letter)."""
    golds, prompts = [], []
    for index, item in enumerate(items):
        if kind == "math":
            golds.append(item["answer"])
            prompts.append(math_prompt(tokenizer, item))
        else:
            options, letter = shuffled_options(item, seed, index)
            golds.append(letter)
            prompts.append(gpqa_prompt(tokenizer, item, options))
    return golds, prompts


def evaluate_reasoning(
    model: Any, tokenizer: Any, benchmarks: dict[str, list[dict[str, Any]]], *,
    seeds: Sequence[int] = (0,), max_new_tokens: int = 2048, temperature: float = 0.0,
    top_p: float = 1.0, top_k: int = 0, batch_size: int = 16, dtype: str = "float32",
) -> dict[str, Any]:
    """Accuracy per seed, mean ± std, format failures, responses cut off while thinking and
    per-item predictions of each benchmark (`math500`: MATH-500 items, `gpqa_diamond`: GPQA
    items); `top_p` / `top_k` (0 = off) shape sampling with `temperature` > 0.

    Greedy decoding gives a prompt the same completion under every seed, so under
    `temperature=0` each distinct prompt is generated once. MATH's prompts never change: its
    seeds are then one run (`runs` 1), and its std is `None` rather than a misleading 0.
    """
    seeds = list(dict.fromkeys(seeds))
    if not seeds:
        raise ActrainError("no seeds given: pass at least one, e.g. --seeds 0")
    cache: dict[str, str] = {}
    results: dict[str, Any] = {}
    for name, items in benchmarks.items():
        kind = "math" if name.startswith("math") else "gpqa"
        per_seed, failures, truncated, predictions = {}, {}, {}, {}
        distinct: set[tuple[str, ...]] = set()
        for seed in seeds:
            golds, prompts = _seed_prompts(tokenizer, items, kind, seed)
            distinct.add(tuple(prompts))
            texts = _complete(model, tokenizer, prompts, cache, seed, f"{name} seed {seed}",
                              max_new_tokens=max_new_tokens, temperature=temperature,
                              top_p=top_p, top_k=top_k, batch_size=batch_size, autocast=dtype)
            # A template that opens the thinking block in its prompt (R1-style): the response
            # starts inside it, so without "</think>" it was cut off while thinking.
            regions = [answer_region(text, opens_thinking(prompt))
                       for text, prompt in zip(texts, prompts, strict=True)]
            rows = [{"id": item["id"], **_score(region, gold, kind), "truncated": region is None,
                     "response": text}
                    for item, gold, text, region in zip(items, golds, texts, regions, strict=True)]
            per_seed[str(seed)] = sum(r["correct"] for r in rows) / len(rows)
            failures[str(seed)] = sum(r["format_failure"] for r in rows) / len(rows)
            truncated[str(seed)] = sum(r["truncated"] for r in rows) / len(rows)
            predictions[str(seed)] = rows
        accuracies = list(per_seed.values())
        runs = len(seeds) if temperature > 0 else len(distinct)
        results[name] = {
            "n": len(items), "runs": runs, "accuracy_per_seed": per_seed,
            "accuracy_mean": statistics.mean(accuracies),
            "accuracy_std": statistics.stdev(accuracies) if runs > 1 else None,
            "format_failure_per_seed": failures,
            "format_failure_rate": statistics.mean(failures.values()),
            "truncated_per_seed": truncated,
            "truncated_rate": statistics.mean(truncated.values()),
            "predictions": predictions,
        }
    return {"seeds": list(seeds), "temperature": temperature, "top_p": top_p, "top_k": top_k,
            "max_new_tokens": max_new_tokens, "benchmarks": results}


def _complete(model: Any, tokenizer: Any, prompts: list[str], cache: dict[str, str], seed: int,
              desc: str, **kwargs: Any) -> list[str]:
    """One completion per prompt; greedy ones are reused across seeds from `cache`."""
    if kwargs["temperature"] > 0:
        return [out[0] for out in generate(model, tokenizer, prompts, num_samples=1, seed=seed,
                                           desc=desc, **kwargs)]
    todo = [p for p in dict.fromkeys(prompts) if p not in cache]
    if todo:
        outputs = generate(model, tokenizer, todo, num_samples=1, seed=seed, desc=desc, **kwargs)
        cache.update((p, out[0]) for p, out in zip(todo, outputs, strict=True))
    return [cache[p] for p in prompts]



def format_table(result: dict[str, Any]) -> str:
    """A small plain-text table: benchmark, n, mean ± std, per-seed accuracies, format failures
    and responses cut off while thinking; a warning line under it for any benchmark whose
    truncated share is above `TRUNCATION_WARNING`."""
    lines = [f"{'benchmark':<14}{'n':>5}  {'accuracy (mean ± std)':<23}{'per seed':<24}"
             f"{'format failures':<17}cut off while thinking"]
    warnings = []
    for name, r in result["benchmarks"].items():
        seeds = " ".join(f"{a:.3f}" for a in r["accuracy_per_seed"].values())
        std = r.get("accuracy_std")
        mean_std = (f"{r['accuracy_mean']:.3f} ± {std:.3f}" if std is not None
                    else f"{r['accuracy_mean']:.3f} (one run)")
        cut = r.get("truncated_rate")
        lines.append(f"{name:<14}{r['n']:>5}  {mean_std:<23}{seeds:<24}"
                     f"{r['format_failure_rate']:<17.1%}{'n/a' if cut is None else f'{cut:.1%}'}")
        if cut is not None and cut > TRUNCATION_WARNING:
            warnings.append(f"warning: {cut:.1%} of {name} responses were cut off while "
                            f"thinking (max_new_tokens {result.get('max_new_tokens')}): raise "
                            f"the budget")
    if any(r.get("runs") == 1 and len(r["accuracy_per_seed"]) > 1
           for r in result["benchmarks"].values()):
        lines.append("greedy decoding repeats the same completions under every seed: one run, "
                     "no std")
    return "\n".join([*lines, *warnings])
