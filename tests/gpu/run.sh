#!/usr/bin/env bash
# `make gpu-check`: install what the offline bundle brings (if .gpu-check/ is here), then run
# `python -m actrain.gpu_check` on this host's GPU. Arguments go to the check (--cpu, --out ...).
# Python: $GPU_CHECK_PYTHON; else the checkout's .venv if there is one; else, with a bundle, a
# venv of its own in the bundle that sees the host's packages (torch, ...), also where python3 is
# itself a venv (tests/gpu/bundle_venv.sh), so the host's Python stays as it was; else python3.
# GPU_CHECK_INSTALL: 1 installs from the bundle, 0 does not; by default it does, except into the
# checkout's .venv (`make install` keeps that one; the bundle is for hosts without it).
set -uo pipefail
cd "$(dirname "$0")/../.."
BUNDLE=${GPU_CHECK_BUNDLE:-.gpu-check}
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false TRL_EXPERIMENTAL_SILENCE=1
export PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONUNBUFFERED=1
say() { echo "gpu-check: $*"; }

PY=${GPU_CHECK_PYTHON:-}
if [ -z "$PY" ] && [ -x .venv/bin/python ]; then
  PY=.venv/bin/python
elif [ -z "$PY" ] && [ -f "$BUNDLE/requirements.txt" ]; then
  if bash tests/gpu/bundle_venv.sh "$BUNDLE/venv"; then
    PY=$BUNDLE/venv/bin/python
  else
    PY=python3
    say "no venv with pip could be made in $BUNDLE/venv: installing into python3 itself"
  fi
fi
PY=${PY:-python3}
say "python: $PY"

INSTALL=${GPU_CHECK_INSTALL:-auto}
if [ "$INSTALL" = auto ]; then
  if [ "$PY" = .venv/bin/python ]; then INSTALL=0; else INSTALL=1; fi
fi
if [ "$INSTALL" = 1 ] && [ -f "$BUNDLE/requirements.txt" ]; then
  say "installing from $BUNDLE (no index: what is installed at the same version stays)"
  pip_offline() { "$PY" -m pip install --quiet --no-index --no-deps --find-links "$BUNDLE/wheels" "$@"; }
  wheels=$(mktemp)
  # What the host has within pyproject.toml's own pins stays (a host with vLLM keeps the
  # transformers it was built against); the rest comes from the bundle at its pinned version.
  "$PY" - "$BUNDLE/requirements.txt" > "$wheels" <<'PYTHON' \
    || grep -Ev '^(deepspeed|wheel)==' "$BUNDLE/requirements.txt" > "$wheels"
import importlib.metadata as metadata
import re
import sys
from pathlib import Path

from packaging.requirements import Requirement

block = Path("pyproject.toml").read_text().split("dependencies = [", 1)[1].split("]", 1)[0]
pins = {Requirement(s).name.lower(): Requirement(s).specifier for s in re.findall(r'"([^"]+)"', block)}
for line in Path(sys.argv[1]).read_text().split():
    name = line.split("==")[0]
    if name in ("deepspeed", "wheel"):
        continue
    try:
        have = metadata.version(name)
    except metadata.PackageNotFoundError:
        have = None
    pin = pins.get(name.lower())
    if have and pin is not None and pin.contains(have, prereleases=True):
        print(f"gpu-check: keeping {name} {have} (within pyproject.toml's {pin})", file=sys.stderr)
        continue
    print(line)
PYTHON
  if ! pip_offline -r "$wheels"; then  # one at a time: say which did not fit
    while read -r req; do
      pip_offline "$req" || say "$req did not install from $BUNDLE (wrong Python or platform?)"
    done < "$wheels"
  fi
  rm -f "$wheels"
  ds=$(grep '^deepspeed==' "$BUNDLE/requirements.txt" || true)
  if [ -n "$ds" ] && ! "$PY" -c 'import deepspeed' >/dev/null 2>&1; then
    say "building $ds from its sdist (DS_BUILD_OPS=0: its ops compile when first used)"
    if ! "$PY" -c 'import setuptools.command.bdist_wheel' >/dev/null 2>&1 \
       && ! "$PY" -c 'import wheel.bdist_wheel' >/dev/null 2>&1; then
      pip_offline "$(grep '^wheel==' "$BUNDLE/requirements.txt")"  # setuptools < 70.1
    fi
    DS_BUILD_OPS=0 pip_offline --no-build-isolation "$ds" \
      || say "$ds did not build: the ZeRO-3 stage will be skipped"
    # transformers imports an installed DeepSpeed on its own: a broken one (a missing
    # dependency) would fail every stage, not only ZeRO-3's.
    if "$PY" -m pip show -q deepspeed >/dev/null 2>&1 \
       && ! error=$("$PY" -c 'import deepspeed' 2>&1 >/dev/null); then
      say "$ds does not import ($(echo "$error" | tail -n 1)): removed again, ZeRO-3 is skipped"
      "$PY" -m pip uninstall --quiet --yes deepspeed
    fi
  fi
  "$PY" -m pip check 2>&1 | grep -Ei 'trl|datasets|transformers|peft|accelerate|deepspeed|torch' \
    | head -n 20 | sed 's/^/gpu-check: pip check: /' || true
fi

# The checkout's own sources: nothing of actrain needs installing, and the launched worker
# processes inherit the path.
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
bundle_arg=()
[ -d "$BUNDLE" ] && bundle_arg=(--bundle "$BUNDLE")
exec timeout -k 15 "${GPU_CHECK_TIMEOUT:-540}" "$PY" -m actrain.gpu_check \
  ${bundle_arg[@]+"${bundle_arg[@]}"} "$@"
