#!/usr/bin/env bash
# Runs the tiny 2-process torchrun job (DDP, FSDP, FSDP with micro-batches) N times in a row and counts
# the runs that did not end with exit 0 and status completed. Usage: bash bench/distributed_stress.sh [N] (default 20).
# Prints one line per run and a table at the end. CPU only (gloo); about 10 s a run on 2 cores.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
runs=${1:-20}
python=${BOND_PYTHON:-$root/.venv/bin/python}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf '{"prompt": "p%s:"}\n' $(seq 0 23) > "$work/prompts.jsonl"
for variant in ddp fsdp fsdp-micro; do
  strategy=${variant%-micro}
  micro=0; [ "$variant" = fsdp-micro ] && micro=3
  cat > "$work/$variant.bond.json" <<JSON
{"name": "stress-$strategy", "algorithm": "jbond",
 "policy": {"gpt": {"layers": 1, "heads": 2, "width": 32, "context": 32}},
 "reward": {"type": "keyword", "pattern": "a"},
 "data": {"train": ["prompts.jsonl"], "eval_fraction": 0.25},
 "train": {"steps": 4, "batch_size": 8, "micro_batch_size": $micro, "lr": 0.003, "warmup_steps": 0, "seed": 1, "device": "cpu"},
 "sampling": {"max_new_tokens": 8},
 "eval": {"every": 2, "prompts": 5, "policy_samples": 2, "mc_samples": 8, "n_max": 8, "bon_n": 4},
 "samples": {"every": 2, "prompts": 3, "mc_samples": 4},
 "checkpoint": {"every": 2, "keep_last": 2},
 "distributed": {"nproc_per_node": 2, "strategy": "$strategy"}}
JSON
done
declare -A failed=([ddp]=0 [fsdp]=0 [fsdp-micro]=0)
declare -A warned=([ddp]=0 [fsdp]=0 [fsdp-micro]=0)  # runs whose output has FSDP's view-tensor warning
for i in $(seq 1 "$runs"); do
  for strategy in ddp fsdp fsdp-micro; do
    dir="$work/run-$strategy-$i"
    OMP_NUM_THREADS=1 PYTHONPATH="$root/trainer" "$python" -m torch.distributed.run --standalone --nproc_per_node=2 \
      -m bond_trainer train --config "$work/$strategy.bond.json" --run-dir "$dir" > "$work/out" 2>&1
    code=$?
    grep -q 'returned a view tensor' "$work/out" && warned[$strategy]=$(( warned[$strategy] + 1 ))
    status=$("$python" -c 'import json,sys; print(json.load(open(sys.argv[1]))["status"])' "$dir/run.json" 2>/dev/null || echo none)
    if [ "$code" -ne 0 ] || [ "$status" != completed ]; then
      failed[$strategy]=$(( failed[$strategy] + 1 ))
      echo "run $i $strategy: exit $code, status $status"; grep -m3 -E 'terminate|Error|error' "$work/out" | sed 's/^/    /'
    else
      echo "run $i $strategy: ok"
    fi
  done
done
echo
echo "| strategy | runs | failed | with FSDP's view-tensor warning |"
echo "|---|---:|---:|---:|"
for strategy in ddp fsdp fsdp-micro; do echo "| $strategy | $runs | ${failed[$strategy]} | ${warned[$strategy]} |"; done
