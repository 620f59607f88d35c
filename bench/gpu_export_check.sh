#!/usr/bin/env bash
# GPU check of the playground export path: a CUDA J-BOND run with export.onnx on writes ONNX models
# whose logits match the CUDA-trained checkpoint evaluated on CPU. Needs reference.pt (carry it).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
py=${BOND_PYTHON:-python3}
export PYTHONPATH=trainer PYTHONWARNINGS=ignore
"$py" -c "import onnx, onnxruntime; print('onnx', onnx.__version__, 'onnxruntime', onnxruntime.__version__)" || { echo "no onnx here"; exit 3; }
timeout 240 "$py" -m bond_trainer demo --runs-dir /tmp/gpu-export --set train.device=cuda --set train.precision=fp32 \
  --set train.steps=40 --set checkpoint.every=20 --set export.onnx=true | tail -n 5
run=$(ls -d /tmp/gpu-export/*/ | head -1)
ls "$run/exports"
"$py" - "$run" <<'PY'
import sys, numpy as np, torch, onnxruntime as ort
from pathlib import Path
from bond_trainer.models.byte_gpt import load_byte_gpt
run = Path(sys.argv[1])
step = max(int(p.name[5:]) for p in (run / "exports").iterdir() if p.name.startswith("step-"))
module = load_byte_gpt(run / "checkpoints" / f"step-{step}" / "model.pt").eval()
session = ort.InferenceSession(str(run / "exports" / f"step-{step}" / "policy" / "model.onnx"))
ids = np.random.default_rng(0).integers(0, 256, (4, 20)).astype(np.int64)
mask = np.ones_like(ids)
names = [i.name for i in session.get_inputs()][2:]
feeds = {"input_ids": ids, "attention_mask": mask, **{n: np.zeros((4, module.spec.heads, 0, module.spec.width // module.spec.heads), np.float32) for n in names}}
onnx_logits = session.run(None, feeds)[0]
with torch.no_grad():
    torch_logits = module(torch.from_numpy(ids), torch.from_numpy(mask))[0].numpy()
print(f"step {step}: max |ONNX - torch CPU| = {np.abs(onnx_logits - torch_logits).max():.2e} over {onnx_logits.size} logits")
PY
