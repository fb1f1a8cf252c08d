"""The shipped accelerate configs load with accelerate's own reader and say what they claim."""

from pathlib import Path

import pytest
from accelerate.commands.config.config_args import load_config_from_file

CONFIGS = sorted((Path(__file__).parents[1] / "configs" / "accelerate").glob("*.yaml"))
EXPECTED = {  # name: (distributed type, processes, machines)
    "1gpu": ("NO", 1, 1),
    "ddp-8gpu": ("MULTI_GPU", 8, 1),
    "zero3-8gpu": ("DEEPSPEED", 8, 1),
    "fsdp-8gpu": ("FSDP", 8, 1),
    "multinode-2x8gpu": ("DEEPSPEED", 16, 2),
    "zero3-cpu": ("DEEPSPEED", 2, 1),  # the tests' and `make rehearsal`'s: no bf16 on CPUs
}


def test_every_launch_setup_is_shipped():
    assert {p.stem for p in CONFIGS} == set(EXPECTED)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_accelerate_reads_the_config(path):
    config = load_config_from_file(str(path))
    kind, processes, machines = EXPECTED[path.stem]
    assert str(config.distributed_type).split(".")[-1] == kind
    assert (config.num_processes, config.num_machines) == (processes, machines)
    precision = "no" if path.stem.endswith("-cpu") else "bf16"
    assert str(config.mixed_precision).split(".")[-1].lower() == precision
    if kind == "DEEPSPEED":
        assert config.deepspeed_config["zero_stage"] == 3
