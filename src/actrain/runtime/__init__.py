"""What every step runs on: models, devices and dtypes, distributed ranks, generation
(HF and vLLM), file IO, trackers and memory release."""
