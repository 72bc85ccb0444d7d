#!/usr/bin/env bash
# Create benchmarks/.venv with chainrule (editable) and the peer libraries the
# benchmarks compare against. Run from anywhere:  bash benchmarks/setup.sh
#
# torch is pinned to 2.13.0: on this project's machines that version is a local
# CPU-only wheel; any other version would pull gigabytes of CUDA libraries.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
venv="$here/.venv"
python="${PYTHON:-python3}"

if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet -e "$repo"
"$venv/bin/python" -m pip install --quiet "torch==2.13.0" "autograd" "micrograd==0.1.0" threadpoolctl
# B3, B4 and B2 peers (CPU JAX; run.py skips either if it is missing)
"$venv/bin/python" -m pip install --quiet mygrad jax jaxlib

"$venv/bin/python" - <<'PY'
from importlib import metadata

for name in (
    "chainrule", "numpy", "torch", "autograd", "micrograd", "mygrad", "jax", "jaxlib",
    "threadpoolctl",
):
    try:
        print(f"  {name:13s} {metadata.version(name)}")
    except metadata.PackageNotFoundError:  # report only: run.py skips missing peers
        print(f"  {name:13s} MISSING")
PY
echo "ready: $venv/bin/python benchmarks/run.py"
