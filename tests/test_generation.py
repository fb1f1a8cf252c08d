from actrain.runtime.generation import generate

PROMPTS = ["<|im_start|>user\\nhello<|im_end|>\\n<|im_start|>assistant\\n",
           "short", "a much longer prompt with several more tokens in it than the others"]


def test_shared_prefix_matches_plain_generation(tiny_model):
    model, tokenizer = tiny_model
    kwargs = dict(num_samples=2, max_new_tokens=6, temperature=0.0, batch_size=8)
    shared = generate(model, tokenizer, PROMPTS, share_prefix=True, **kwargs)
    plain = generate(model, tokenizer, PROMPTS, share_prefix=False, **kwargs)
    assert shared == plain
    assert [len(s) for s in shared] == [2, 2, 2]


def test_sampling_is_seeded_and_keeps_input_order(tiny_model):
    model, tokenizer = tiny_model
    kwargs = dict(num_samples=3, max_new_tokens=5, temperature=1.0, batch_size=4, seed=7)
    a = generate(model, tokenizer, PROMPTS, **kwargs)
    b = generate(model, tokenizer, PROMPTS, **kwargs)
    assert a == b
    single = generate(model, tokenizer, [PROMPTS[1]], num_samples=1, max_new_tokens=5,
                      temperature=0.0)
    greedy = generate(model, tokenizer, PROMPTS, num_samples=1, max_new_tokens=5, temperature=0.0)
    assert greedy[1] == single[0]


def test_stop_text_ends_generation_early(tiny_model):
    model, tokenizer = tiny_model
    out = generate(model, tokenizer, PROMPTS[:1], max_new_tokens=30, temperature=0.0)[0][0]
    tokens = tokenizer(out, add_special_tokens=False)["input_ids"]
    assert len(tokens) >= 10  # a random model rambles on: there is a middle to stop in
    stop = tokenizer.decode(tokens[5:7])
    stopped = generate(model, tokenizer, PROMPTS[:1], max_new_tokens=30, temperature=0.0,
                       stop=[stop])[0][0]
    assert out.startswith(stopped) and stop in stopped and len(stopped) < len(out)


def test_continuation_logprobs_equal_scoring_each_full_sequence(tiny_model):
    import torch

    from actrain.runtime.generation import continuation_logprobs

    model, tokenizer = tiny_model
    prompt = "<|im_start|>user\nYou are in the kitchen.<|im_end|>\n<|im_start|>assistant\n<action>"
    options = ["open fridge</action>", "go north</action>", "take red apple from table</action>"]
    fast = continuation_logprobs(model, tokenizer, prompt, options)
    p = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    for option, score in zip(options, fast, strict=True):
        c = tokenizer(option, add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([p + c])).logits[0].float()
        logp = torch.log_softmax(logits, -1)
        expected = sum(logp[len(p) - 1 + i, t].item() for i, t in enumerate(c))
        assert abs(score - expected) < 1e-3
    assert continuation_logprobs(model, tokenizer, prompt, []) == []


def _stopped_text(tokenizer, completion: str, think_open: bool = False) -> str:
    """Feed `completion` token by token to the stop rule; the text up to where it stops."""
    import torch

    from actrain.runtime.generation import StopOnText

    prompt = tokenizer("a prompt", add_special_tokens=False)["input_ids"]
    tokens = tokenizer(completion, add_special_tokens=False)["input_ids"]
    rule = StopOnText(tokenizer, ["</answer>"], len(prompt), think_open=[think_open])
    for n in range(1, len(tokens) + 1):
        if rule(torch.tensor([prompt + tokens[:n]]), None)[0]:
            return tokenizer.decode(tokens[:n])
    return tokenizer.decode(tokens)


def test_the_stop_rule_ignores_answers_written_while_thinking(tokenizer):
    from actrain.prompts import parse_choice

    actions = ["take apple", "open fridge"]
    cases = {
        "<answer>2</answer> and more": "<answer>2</answer>",
        "<think>either <answer>1</answer> or <answer>2</answer>.</think>\n<answer>2</answer> x":
            "<think>either <answer>1</answer> or <answer>2</answer>.</think>\n<answer>2</answer>",
        "  <think>hmm</think><answer>1</answer><answer>2</answer>":
            "  <think>hmm</think><answer>1</answer>",
    }
    for completion, expected in cases.items():
        stopped = _stopped_text(tokenizer, completion)
        # a token may run past the tag ("><" is one token), never a tag further
        assert stopped.startswith(expected) and len(stopped) - len(expected) <= 2, completion
        # what generation keeps reads as what GRPO's whole completion reads
        assert parse_choice(stopped, actions) == parse_choice(completion, actions)
    # a template that opened the block in the prompt: an early answer tag is still thinking
    opened = "maybe <answer>1</answer>? no.</think><answer>2</answer> tail"
    stopped = _stopped_text(tokenizer, opened, think_open=True)
    assert stopped.startswith(opened[: -len(" tail")]) and "tail" not in stopped


def test_a_seeded_generation_leaves_the_callers_random_stream_alone(tiny_model):
    import torch

    model, tokenizer = tiny_model
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    generate(model, tokenizer, PROMPTS[:1], max_new_tokens=3, temperature=1.0, seed=0)
    assert torch.equal(torch.rand(3), expected)


def _first_stops_decoding_every_step(tokenizer, stops, prompt_len, think_open, ids):
    """The stop rule as first written: every row's window decoded after every token. For each
    row, the length at which it first stops (None: never)."""
    from actrain.runtime.generation import StopOnText

    rule = StopOnText(tokenizer, stops, prompt_len, think_open=think_open)
    first = [None] * ids.shape[0]
    for n in range(prompt_len + 1, ids.shape[1] + 1):
        texts = tokenizer.batch_decode(ids[:, prompt_len:n][:, -rule.window :],
                                       skip_special_tokens=True)
        for row, text in enumerate(texts):
            region = rule._advance(row, text.lower(), n - prompt_len)
            if first[row] is None and any(s in region for s in rule.stops):
                first[row] = n
    return first


def _first_stops(tokenizer, stops, prompt_len, think_open, ids):
    from actrain.runtime.generation import StopOnText

    rule = StopOnText(tokenizer, stops, prompt_len, think_open=think_open)
    first = [None] * ids.shape[0]
    for n in range(prompt_len + 1, ids.shape[1] + 1):
        for row, done in enumerate(rule(ids[:, :n], None).tolist()):
            if done and first[row] is None:
                first[row] = n
    return first


def test_the_stop_rule_stops_where_decoding_every_step_would(tokenizer):
    import random

    import torch

    pieces = ["<think>", "</think>", "<answer>", "1", "</answer>", "</action>", " take shirt",
              " hmm", ">", "</", "answer", "ANSWER>", "ΑΣ", "ς", "é", "🙂", "\n", "  ", "<thi"]
    rng = random.Random(0)
    texts = ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 14))) for _ in range(60)]
    rows = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    width = max(len(r) for r in rows)
    prompt = tokenizer("a prompt", add_special_tokens=False)["input_ids"]
    ids = torch.tensor([prompt + r + [tokenizer.pad_token_id] * (width - len(r)) for r in rows])
    think_open = [rng.random() < 0.3 for _ in rows]
    stopped = 0
    # (not "σ": a window that starts inside "ΑΣ" lowercases "Σ" to "σ" instead of "ς")
    for stops in (["</answer>"], ["</action>", "</answer>"], ["Answer>"], ["ς", "é"], ["1"],
                  ["hmm", " "], [""]):
        expected = _first_stops_decoding_every_step(tokenizer, stops, len(prompt), think_open, ids)
        assert _first_stops(tokenizer, stops, len(prompt), think_open, ids) == expected, stops
        stopped += sum(n is not None for n in expected)
    assert stopped > 100  # the cases do stop, at many places


def test_the_stop_rule_decodes_only_rows_that_may_have_stopped(tokenizer):
    import torch

    from actrain.runtime.generation import StopOnText

    class Counting:
        """The tokenizer, counting the rows it decodes in batches."""

        def __init__(self) -> None:
            self.rows = 0

        def batch_decode(self, ids, **kwargs):
            self.rows += len(ids)
            return tokenizer.batch_decode(ids, **kwargs)

        def __getattr__(self, name):
            return getattr(tokenizer, name)

    prompt = tokenizer("a prompt", add_special_tokens=False)["input_ids"]
    text = "I think the second one is right because it moves the task on, so: <answer>2</answer>"
    tokens = tokenizer(text, add_special_tokens=False)["input_ids"]
    ids = torch.tensor([prompt + tokens] * 3)
    counting = Counting()
    rule = StopOnText(counting, ["</answer>"], len(prompt))
    steps = 0
    for n in range(len(prompt) + 1, ids.shape[1] + 1):
        steps += 1
        done = rule(ids[:, :n], None)
    assert done.tolist() == [True] * 3
    assert counting.rows <= 3 * (rule.window + 4) < 3 * steps  # every step: 3 rows each
