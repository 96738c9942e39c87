#!/usr/bin/env bash
# How much PETS2009 leaves for synchronization (README "Results on PETS2009", "Room for synchronization"):
# BaseU, CLS-epi (l_s and l_W), BaseS and a view-1-only model trained with about 3x the budget of the PETS2009 tables
# (8000 steps against BaseU's 2800) and a decaying learning rate, two training seeds, then
# python -m vsync_ros.reports.pets_budget.
#
#   scripts/pets2009_budget.sh [DATA_ROOT]        # default ../shared/data/pets2009
#
# Every model has the same budget of N0 + N1 steps (default 6000 + 2000, batch 1):
#   BaseU, CLS-epi: N0 steps of BaseU from scratch (lr 5e-4 / (1 + DECAY * step)), then N1 steps at lr 1.5e-4,
#                   BaseU on as it is, CLS-epi (l_s, gamma 10, the small.yaml sync architecture) from it, and
#                   CLS-epi with l_W (synchronized frames tell its flow where people are) from it too;
#   BaseS:          N0 + N1 steps on synchronized frames from scratch (same schedule);
#   View 1 only:    N0 + N1 steps of BaseU from scratch with views 2 and 3 always missing (train.view_dropout).
# Environment: OUT (default runs/pets2009_budget), DATA (data sets, default runs/pets2009), SEEDS (default
# "0 1"), N0, N1, DECAY (default 3.75e-4: the lr falls to 1/4 over N0 + N1 steps), JOBS (default 2).
# About 1 h 50 min on 2 CPU cores. Checkpoints are outputs (not committed); docs/results/pets2009_budget.* are.
# FRAMES_ROOT (environment): the MVMS release of PETS2009; when set, the runs use its real frames
# (scripts/pets2009_data.sh), OUT / DATA default to runs/pets2009_frames_budget / runs/pets2009_frames and the
# report is docs/results/pets2009_frames_budget.*.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}; export PY
DATA_ROOT=${1:-../shared/data/pets2009}
FRAMES_ROOT=${FRAMES_ROOT:-}; export FRAMES_ROOT
TAG=pets2009; [ -n "$FRAMES_ROOT" ] && TAG=pets2009_frames
OUT=${OUT:-runs/${TAG}_budget}
DATA=${DATA:-runs/$TAG}
SEEDS=${SEEDS:-"0 1"}
N0=${N0:-6000}
N1=${N1:-2000}
DECAY=${DECAY:-0.000375}
JOBS=${JOBS:-2}
scripts/pets2009_data.sh "$DATA_ROOT" "$DATA"
TRAIN_DATA="$DATA/data_random"
# shellcheck source=scripts/pets2009_common.sh
source scripts/pets2009_common.sh   # the CPU configuration of the PETS2009 tables, pets_train, throttle
run() { pets_train "$@" train.log_every=100; }

for s in $SEEDS; do throttle; run base_u_init small_base_u "$s" train.max_steps="$N0" train.lr_decay="$DECAY" & done
wait
for s in $SEEDS; do
  C="train.init_checkpoint=$OUT/seed$s/base_u_init.pt train.max_steps=$N1 train.lr=0.00015"
  # shellcheck disable=SC2086
  { throttle; run base_u small_base_u "$s" $C & }
  # shellcheck disable=SC2086
  { throttle; run cls_epi small_cls_epi "$s" $C loss.sync_loss=sim loss.gamma=10 & }
  # shellcheck disable=SC2086
  { throttle; run cls_epi_w small_cls_epi "$s" $C & }
done
wait
for s in $SEEDS; do
  throttle; run base_s small_base_s "$s" train.max_steps=$((N0 + N1)) train.lr_decay="$DECAY" &
  throttle; run view1 small_base_u "$s" train.max_steps=$((N0 + N1)) train.lr_decay="$DECAY" \
    "train.view_dropout=[0.0,1.0,1.0]" &
done
wait
# shellcheck disable=SC2086
$PY -m vsync_ros.reports.pets_budget --runs "$OUT" --data "$DATA/data_random" --seeds $SEEDS --jobs "$JOBS" \
  --json "docs/results/${TAG}_budget.json" --markdown "docs/results/${TAG}_budget.md"
