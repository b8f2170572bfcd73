#!/usr/bin/env bash
# The GPU run that produced the shipped reader (one H100, ~8 minutes). Expects the base encoder
# and the SQuAD files in .devcarry/ (see training/README.md); writes to $OUT.
# Three learning-rate/epoch settings train side by side on one GPU; the one with the best F1 on
# the held-out training articles is exported (the dev file is scored for the report only).
set -u
EVAL_FILE=${EVAL_FILE-.devcarry/squad1.1-dev.json}
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=true
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
nvidia-smi -L; python3 -c "import torch, transformers; print(torch.__version__, transformers.__version__)"
run() {  # name lr epochs
  python3 training/train_reader.py --base .devcarry/base --train .devcarry/squad1.1-train.json.gz \
    ${EVAL_FILE:+--eval $EVAL_FILE} --out /tmp/runs/$1 --lr $2 --epochs $3 \
    --deadline-minutes ${DEADLINE:-7} ${EXTRA:-} > /tmp/log_$1.txt 2>&1
}
mkdir -p /tmp/runs
run a 1e-4 3 & run b 2e-4 3 & run c 1.5e-4 4 & wait
for r in a b c; do echo "== $r"; cat /tmp/log_$r.txt; done > "$OUT/logs.txt"
python3 - "$OUT" <<'PY'
import json, sys, torch, shutil
from pathlib import Path
out = Path(sys.argv[1]); runs = {}
for r in "abc":
    p = Path(f"/tmp/runs/{r}/metrics.json")
    if p.exists():
        runs[r] = json.loads(p.read_text())
best = max(runs, key=lambda r: runs[r]["history"][-1]["f1"])
(out / "report.json").write_text(json.dumps({"best": best, "runs": runs}, indent=1))
final = Path(f"/tmp/runs/{best}/final")
shutil.copy(final / "config.json", out / "config.json")
from safetensors.torch import load_file
sd = {k: (v.half() if v.is_floating_point() else v) for k, v in load_file(final / "model.safetensors").items()}
torch.save(sd, "/tmp/best_fp16.pt")
print("best", best, runs[best]["history"][-1], runs[best].get("eval"))
PY
split -b 15M -d /tmp/best_fp16.pt "$OUT/weights.part"
ls -la "$OUT"
