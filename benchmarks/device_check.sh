#!/usr/bin/env bash
# One prepared run for a machine with a CUDA GPU and no network (the image's python3 holds torch,
# numba with its CUDA target, sympy, scipy and pytest): the CUDA tests, then the GPU benchmark of
# the three paper models with every path, fused included. Output goes to stdout and, when $OUT
# is set, to $OUT/device_check.log. Run from the repository root:
#     bash benchmarks/device_check.sh
set -u -o pipefail
PY=${PYTHON:-python3}
log=${OUT:-/tmp}/device_check.log
{
    $PY -c "import torch, numba; print('torch', torch.__version__, 'numba', numba.__version__, torch.cuda.get_device_name(0))"
    export PYTHONPATH="$PWD/.device-src${PYTHONPATH:+:$PYTHONPATH}"
    # the package's import name without installing it (no network for build dependencies)
    mkdir -p .device-src && rm -rf .device-src/lstmlif && cp -r lstmlif .device-src/lstmlif
    for sub in neurons analysis experiments figures; do ln -sfn "$PWD/$sub" ".device-src/lstmlif/$sub"; done
    timeout 360 $PY -m pytest -q -m cuda -p no:cacheprovider tests/test_fused_cuda.py tests/test_exact.py
    timeout 200 $PY benchmarks/bench_backward.py --device cuda --modes autograd,exact,fused --repeats 5
} 2>&1 | tee "$log"
