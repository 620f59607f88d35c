"""On a CUDA machine: a J-BOND run of a tiny random Llama chat model in bf16 with LoRA, an HF reward
model and export.onnx on; then the exported policy (run by onnxruntime on the CPU) against the
checkpoint's merged policy in PyTorch fp32. Prints one line per check; exit 1 if one fails."""
import io
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "trainer"), str(ROOT / "trainer" / "tests")]
from hf_models import make_causal_lm, make_reward_model  # noqa: E402

from bond_trainer.inputs.config import config_from_dict  # noqa: E402
from bond_trainer.run.console import Console  # noqa: E402
from bond_trainer.training.session import run_training  # noqa: E402

DEVICE = sys.argv[1] if len(sys.argv) > 1 else "cuda"  # cpu: a dry run of this script (fp32)
DTYPE = "bf16" if DEVICE == "cuda" else "fp32"
work = Path(tempfile.mkdtemp())
make_causal_lm(work / "llama", "llama", chat=True)
make_reward_model(work / "rm")
(work / "p.jsonl").write_text("".join(json.dumps({"prompt": f"p{i}: the food"}) + "\n" for i in range(24)))
raw = {"name": "gpu-hf", "algorithm": "jbond",
       "policy": {"hf": {"model": "llama", "chat_template": True, "dtype": DTYPE, "lora": {"r": 4}}},
       "reward": {"type": "hf", "model": "rm", "dtype": DTYPE}, "data": {"train": ["p.jsonl"], "eval_fraction": 0.25},
       "train": {"steps": 4, "batch_size": 8, "lr": 0.05, "warmup_steps": 0, "device": DEVICE},
       "sampling": {"max_new_tokens": 12}, "eval": {"every": 4, "prompts": 4, "policy_samples": 2, "mc_samples": 8, "n_max": 8, "bon_n": 4},
       "samples": {"every": 4, "prompts": 2, "mc_samples": 4}, "checkpoint": {"every": 4}, "export": {"onnx": True}}
out = io.StringIO()
code = run_training(config_from_dict(raw, base_dir=work), work / "run", False, None, Console(out=out, err=out))
meta = json.loads((work / "run" / "run.json").read_text())
print(f"run: exit {code}, status {meta['status']}, device {meta['device']}, precision {meta['precision']}, model {meta['model']}")
ok = code == 0
step = work / "run" / "exports" / "step-4"
print("exports:", sorted(p.name for p in step.iterdir()))
import onnxruntime as ort  # noqa: E402
from peft import PeftModel  # noqa: E402
from transformers import AutoModelForCausalLM  # noqa: E402

# The run trained on the base rounded to bf16: compare against that base, merged in fp32 as the export is.
base = AutoModelForCausalLM.from_pretrained(str(work / "llama"), dtype=torch.bfloat16 if DTYPE == "bf16" else torch.float32).float()
trained = PeftModel.from_pretrained(base, str(work / "run" / "checkpoints" / "step-4" / "hf")).merge_and_unload().eval()
info = json.loads((step / "policy" / "model.json").read_text())
session = ort.InferenceSession(str(step / "policy" / "model.onnx"))
ids = torch.randint(3, 200, (3, 9), generator=torch.Generator().manual_seed(0))
mask = torch.ones(3, 9, dtype=torch.long)
mask[1:, :3] = 0
feeds = {"input_ids": ids.numpy(), "attention_mask": mask.numpy()}
for name in info["inputs"][2:]:
    feeds[name] = np.zeros((3, info["heads"], 0, info["head_dim"]), np.float32)
onnx_logits = session.run(None, feeds)[0]
with torch.no_grad():
    torch_logits = trained(input_ids=ids, attention_mask=mask, position_ids=(mask.cumsum(1) - 1).clamp(min=0)).logits.numpy()
worst = float(np.abs(onnx_logits - torch_logits)[mask.bool().numpy()].max())
print(f"exported policy vs PyTorch fp32: max |Δlogit| {worst:.2e}")
ok = ok and worst <= 1e-4
print("PASS" if ok else "FAIL")
sys.exit(0 if ok else 1)
