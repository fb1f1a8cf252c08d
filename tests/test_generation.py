from actrain.generation import generate

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
    first_word = out.split()[0] if out.split() else None
    if first_word:
        stopped = generate(model, tokenizer, PROMPTS[:1], max_new_tokens=30, temperature=0.0,
                           stop=[first_word])[0][0]
        assert len(stopped) < len(out) or stopped == out[: len(stopped)]
        assert first_word in stopped


def test_continuation_logprobs_equal_scoring_each_full_sequence(tiny_model):
    import torch

    from actrain.generation import continuation_logprobs

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
