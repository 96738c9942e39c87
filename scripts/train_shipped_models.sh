#!/usr/bin/env bash
# Reproduce the shipped plaza checkpoints (models/plaza_*.pt), their model cards and the README tables.
# The shipped models are training seed 0 of scripts/train_plaza_robust.sh (randomized scenes, 5-60 people,
# view dropout; the CLS models' flow matches the counting features at stride 16, config/train/small.yaml);
# seed 1 of CLS-epi and BaseU (and of the fallback model, and of CLS-epi in the pre-issue-12 architecture) is
# trained for the seed spread of the robustness comparison. base_u_fallback is the node's fallback
# model (fallback_checkpoint of config/counting.yaml). About 2 h on 2 CPU cores.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
scripts/train_plaza_robust.sh
SEED=1 MODELS="cls_epi base_u base_u_fallback cls_epi_sep" scripts/train_plaza_robust.sh
# the paper-layout tables evaluate on single-scene plaza test sets (a scene no training run used)
synth() { [ -f "$1/manifest.json" ] || $PY -m vsync_ros.data.cli "$@" --preset pets --dt 0.5 --n-train 1200 --n-test 300 --format jpg --seed 0; }
synth data/plaza_random --mode random
synth data/plaza_const --mode constant
mkdir -p models
for m in base_s base_u base_su cls_epi cls_epi_w cls_cor sls cls_cat base_u_fallback; do cp "runs/plaza_robust/seed0/$m.pt" "models/plaza_$m.pt"; done
$PY -m vsync_ros.reports.results --spec config/results/plaza.yaml
$PY -m vsync_ros.reports.robust_results --cards models
