#!/usr/bin/env bash
# All the GPU checks of a session that is lent a GPU machine, in one call of at most 9 minutes
# (the parts' limits below add up to 540 s; give the call a timeout of 600 s):
#
#   bash benchmarks/device_checks.sh          # files under $OUT (default: device_out/)
#
# $OUT receives three files, refreshed after every part (a device call brings back at most 8, and
# a call killed at its time limit keeps what the last part left): device_checks.tar.gz (every
# part's log and output file), bench_laplacian_$DEVICE.csv and summary.log (one line per part).
# The parts work in $WORK (default: a new temporary folder).
#
# 1. environment: GPU, torch, numba;
# 2. tests on the GPU: tests/test_cuda.py (engines, estimators and MetaKAN generation on CUDA
#    against the CPU; solve → resume, fit and bench on CUDA) and the tests elsewhere in tests/
#    whose behaviour depends on a GPU being there;
# 3. timings for results/: `pinnkan bench laplacian` on CUDA (bench_laplacian_cuda.csv, the same
#    cases as results/bench_laplacian.csv) and benchmarks/meta_step.py (MetaKAN vs KAN step);
# 4. the trainer's throughput: 300 steps of the sdgd preset at d = 100 (KAN and MetaKAN), steps/s
#    against the bench's step time: what the trainer adds per step on a GPU (point and direction
#    draws on the CPU generator, the per-step loss read-back);
# 5. paths the tests do not take on a GPU: a sweep with two worker processes (spawned where CUDA
#    is available), the soft constraint with L-BFGS, Hutchinson with grid updates.
#
# Uses the machine's own python3 and torch (PYTHON=... for another), installs pinnkan from this
# checkout without dependencies and without the network (deepxde is needed only by the DeepXDE
# interop, whose tests are not run here; the machine's setuptools must be ≥ 77, pyproject's build
# requirement, as no other can be fetched there). Each part has its own time limit and the script goes on
# after a failure; its exit status is non-zero if any part failed. Locally, without a GPU:
#   PYTHON=.venv/bin/python DEVICE=cpu DIMS=5 POINTS=10 REPEATS=3 OUT=/tmp/checks \
#       bash benchmarks/device_checks.sh
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
DEVICE=${DEVICE:-cuda}
OUT=${OUT:-device_out}
WORK=${WORK:-$(mktemp -d)}
DIMS=${DIMS:-20,100,1000} POINTS=${POINTS:-100,2000} REPEATS=${REPEATS:-200}
mkdir -p "$OUT" "$WORK"
: >"$OUT/summary.log"
OUT=$(cd "$OUT" && pwd) WORK=$(cd "$WORK" && pwd)
export PYTHONUNBUFFERED=1
failed=()

pack() {  # what the parts made so far, into $OUT
    tar -czf "$OUT/device_checks.tar.gz.part" -C "$WORK" . &&
        mv "$OUT/device_checks.tar.gz.part" "$OUT/device_checks.tar.gz"
    [ ! -f "$WORK/bench_laplacian_$DEVICE.csv" ] || cp "$WORK/bench_laplacian_$DEVICE.csv" "$OUT/"
}

part() {  # part NAME SECONDS COMMAND...: run with a limit, log to $WORK/NAME.log
    local name=$1 limit=$2 start=$SECONDS
    shift 2
    echo "== $name ($(date -u +%H:%M:%S), limit ${limit}s): $*"
    timeout "$limit" "$@" 2>&1 | tee "$WORK/$name.log"
    local code=${PIPESTATUS[0]} verdict=passed
    [ "$code" -eq 0 ] || { verdict="FAILED (exit $code)"; failed+=("$name"); }
    echo "== $name $verdict"
    echo "$name: $verdict in $((SECONDS - start)) s (limit $limit s)" >>"$OUT/summary.log"
    pack
}

part environment 20 bash -c "nvidia-smi -L 2>/dev/null; $PY -c 'import torch, numba, sys
print(sys.version.split()[0], \"torch\", torch.__version__, \"numba\", numba.__version__)
print(\"cuda\", torch.cuda.is_available(), torch.cuda.get_device_name() if torch.cuda.is_available() else \"\")'"
part install 40 "$PY" -m pip install --quiet --no-deps --no-build-isolation --no-index -e .
part tests 170 "$PY" -m pytest -q -p no:cacheprovider tests/test_cuda.py \
    tests/test_backbones.py tests/test_geometry.py tests/test_bench.py \
    tests/test_scalar_relu_numba.py -k "cuda or device"
part meta_step 60 "$PY" benchmarks/meta_step.py --device "$DEVICE" --dim 100 --points 100 \
    --repeats "$REPEATS"
part bench_laplacian 120 "$PY" -m pinnkan bench laplacian --device "$DEVICE" \
    --dim "$DIMS" --model kan,metakan,mlp --points "$POINTS" --max-seconds 2 \
    --out "$WORK/bench_laplacian_$DEVICE.csv"

for model in kan metakan; do
    part "solve_$model" 20 "$PY" -m pinnkan solve --problem poisson --dim 100 --model "$model" \
        --preset sdgd --steps 300 --eval-every 300 --device "$DEVICE" --quiet \
        --out "$WORK/solve_$model.h5"
    timeout 10 "$PY" -m pinnkan show --json "$WORK/solve_$model.h5" >"$WORK/solve_$model.json" 2>&1
done

printf 'name = "gpu"\ndescription = "device check"\n[train]\nsteps = 5\ntest_points = 50\npoints = 16\n[[runs]]\nproblem = ["poisson", "sine_gordon"]\ndim = 3\nmodel = ["kan", "metakan"]\n' \
    >"$WORK/sweep.toml"
part sweep 40 "$PY" -m pinnkan sweep "$WORK/sweep.toml" --out-dir "$WORK/sweep" --device "$DEVICE" \
    --jobs 2
part variants 30 bash -c "$PY -m pinnkan solve --problem allen_cahn --dim 5 --width 5,8,1 \
    --constraint soft --optimizer lbfgs --lr 1 --steps 5 --device $DEVICE --quiet \
    --out $WORK/soft_lbfgs.h5 && $PY -m pinnkan solve --problem poisson --dim 20 --width 20,8,1 \
    --laplacian hutchinson --steps 20 --update-grid-every 10 --device $DEVICE --quiet \
    --out $WORK/hutchinson_grid.h5"

if [ ${#failed[@]} -gt 0 ]; then
    echo "== failed: ${failed[*]}"
    exit 1
fi
echo "== all parts passed; files in $OUT"
