#!/usr/bin/env bash
# One GPU session's checks, in one go (device time is scarce): environment report, CUDA/bf16 parity,
# trainer bench in fp32 and bf16 on the demo model and a larger one, and the demo end to end on CUDA.
# Needs a Python with torch and examples/demo/build/reference.pt (carry it; `bash scripts/demo` makes it).
# Writes its tables to ${OUT:-bench/gpu-out}.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out=${OUT:-bench/gpu-out}; mkdir -p "$out"
py=${BOND_PYTHON:-python3}
export PYTHONPATH=trainer PYTHONWARNINGS=ignore
step() { echo "== $1 ($(date +%T))"; }
step "environment"; { nvidia-smi -L; "$py" -m bond_trainer check; } >"$out/env.txt" 2>&1
step "parity"; timeout 120 "$py" bench/gpu_parity.py >"$out/parity.md" 2>&1
step "bench demo model"; {
  timeout 240 "$py" bench/trainer_bench.py --device cuda --precision fp32
  timeout 120 "$py" bench/trainer_bench.py --device cuda --precision bf16 --skip-sampler
} >"$out/bench-small.md" 2>&1
step "bench 6x512"; {
  timeout 150 "$py" bench/trainer_bench.py --device cuda --precision fp32 --layers 6 --width 512 --skip-sampler
  timeout 150 "$py" bench/trainer_bench.py --device cuda --precision bf16 --layers 6 --width 512 --skip-sampler
} >"$out/bench-large.md" 2>&1
for precision in bf16 fp32; do
  step "demo cuda $precision"
  start=$(date +%s)
  timeout 240 "$py" -m bond_trainer demo --runs-dir /tmp/gpu-runs-$precision --set train.device=cuda \
    --set train.precision=$precision >"$out/demo-$precision.txt" 2>&1
  echo "exit $? in $(( $(date +%s) - start )) s" >>"$out/demo-$precision.txt"
done
step "done"; tail -n 3 "$out"/*.txt
