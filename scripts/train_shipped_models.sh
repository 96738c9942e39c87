#!/usr/bin/env bash
# Reproduce the shipped plaza checkpoints (models/plaza_*.pt), their model cards and the README tables.
# About 1.5 h on 2 CPU cores (the runs in each group go in parallel, one thread each).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
synth() { [ -f "$1/manifest.json" ] || $PY -m vsync_ros.data.cli "$@" --preset pets --dt 0.5 --n-train 1200 --n-test 300 --format jpg --seed 0; }
synth data/plaza_random --mode random
synth data/plaza_const --mode constant
train() { $PY -m vsync_ros.engine.train --config "config/train/$1.yaml" data.root="$2" train.threads=1 train.max_steps="$3" train.out="runs/$4.pt" "${@:5}"; }
# 1. baselines from scratch
train small_base_u data/plaza_random 2500 plaza_base_u & train small_base_s data/plaza_random 2500 plaza_base_s & wait
# 2. sync models start from the baseline of their regime; BaseU trains on for the same 1200 steps
train small_cls_epi_sim data/plaza_random 1200 plaza_cls_epi train.init_checkpoint=runs/plaza_base_u.pt &
train small_cls_cor_sim data/plaza_random 1200 plaza_cls_cor train.init_checkpoint=runs/plaza_base_u.pt &
train small_cls_epi data/plaza_random 1200 plaza_cls_epi_w train.init_checkpoint=runs/plaza_base_s.pt &
train small_base_u data/plaza_random 1200 plaza_base_u_long train.init_checkpoint=runs/plaza_base_u.pt &
train small_base_su data/plaza_random 1200 plaza_base_su train.init_checkpoint=runs/plaza_base_s.pt &
wait
SIM="loss.sync_loss=sim loss.gamma=10 train.init_checkpoint=runs/plaza_base_u.pt"
# shellcheck disable=SC2086
train small_sls data/plaza_random 1200 plaza_sls $SIM & train small_cls_cat data/plaza_random 1200 plaza_cls_cat $SIM &
wait
mkdir -p models
cp runs/plaza_base_u_long.pt models/plaza_base_u.pt
for m in base_s base_su cls_epi cls_cor cls_epi_w sls cls_cat; do cp "runs/plaza_$m.pt" "models/plaza_$m.pt"; done
$PY -m vsync_ros.reports.results --spec config/results/plaza.yaml
