#!/usr/bin/env bash
# The Hugging Face GPU check (device time is scarce: one script, one go): J-BOND on a
# GPT-2-124M-sized random model in bf16 (full fine-tuning and LoRA) against fp32, plus the
# trainer's CUDA sampling parity between a whole batch and its shards.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out=${OUT:-bench/gpu-out}; mkdir -p "$out"
py=${BOND_PYTHON:-$(command -v python3 || command -v python)}
# peft and accelerate, when carried in bench/.gpu-site (the GPU machine has no internet to pip install them)
export PYTHONPATH=trainer${PWD:+:$PWD/bench/.gpu-site} PYTHONWARNINGS=ignore
{ nvidia-smi -L; "$py" -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"
  "$py" -c "import peft; print('peft', peft.__version__)" 2>&1 | tail -1; } >"$out/hf-env.txt" 2>&1
echo "== hf bench ($(date +%T))"
timeout 420 "$py" bench/hf_bench.py --device cuda --steps 8 --batch 16 --tokens 64 >"$out/hf-bench.md" 2>&1
echo "exit $?" >>"$out/hf-bench.md"
cat "$out"/hf-env.txt "$out"/hf-bench.md
