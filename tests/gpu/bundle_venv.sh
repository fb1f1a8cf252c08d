#!/usr/bin/env bash
# `bundle_venv.sh DIR`: a venv in DIR that sees the host's packages (torch, ...), for
# tests/gpu/run.sh to install the offline bundle into, so the host's Python stays as it was.
# `--system-site-packages` shows the *base* interpreter's packages only: where python3 is itself
# a venv (the lent GPU image's /opt/torch/.venv), its packages would be missing, so a .pth file
# adds that venv's site-packages after the new venv's own (what the bundle installs wins).
# Exit status 0 when DIR/bin/python has pip.
set -uo pipefail
DIR=$1
BASE=${GPU_CHECK_BASE_PYTHON:-python3}
if [ ! -x "$DIR/bin/python" ]; then
  "$BASE" -m venv --system-site-packages "$DIR" >/dev/null 2>&1 \
    || "$BASE" -m venv --system-site-packages --without-pip "$DIR"  # no ensurepip
  "$BASE" - "$DIR" <<'PYTHON'
import sys
import sysconfig
from pathlib import Path

if sys.prefix != sys.base_prefix:  # python3 is a venv: its packages, after the new venv's own
    paths = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    for site in Path(sys.argv[1]).glob("lib/python*/site-packages"):
        (site / "zz-host-venv.pth").write_text("\n".join(paths) + "\n")
PYTHON
fi
"$DIR/bin/python" -m pip --version >/dev/null 2>&1
