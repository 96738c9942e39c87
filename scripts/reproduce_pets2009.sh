#!/usr/bin/env bash
# Reproduce the PETS2009 results (README "Results on PETS2009"): data sets from the real calibration and
# annotations, 9 models x 2 training seeds on the CPU configuration, every evaluation, the tables, the
# model cards and the figure.
#
#   scripts/reproduce_pets2009.sh [DATA_ROOT]        # default ../shared/data/pets2009
#
# Environment: OUT (default runs/pets2009: data sets, checkpoints, evaluations), SEEDS (default "0 1"),
# STEPS_BASE / STEPS_SYNC (training steps of the from-scratch baselines / of every model trained from a
# baseline; default 2000 / 800), JOBS (parallel runs, one CPU thread each; default 2), ARCH (sync-architecture
# overrides of every run, default the pre-issue-12 one the results were made with; "" = config/train/small.yaml).
# About 1 h on 2 CPU cores. The checkpoints are outputs, not committed files; the results
# (docs/results/pets2009.*), the model cards (models/pets2009/) and the figure are.
# FRAMES_ROOT (environment): the MVMS release of PETS2009 (real frames and ground-plane maps). When set, the
# same runs train and test on its real frames (scripts/pets2009_data.sh); OUT defaults to runs/pets2009_frames
# and the results, cards and figure are written as docs/results/pets2009_frames.*, models/pets2009_frames/ and
# docs/img/pets2009_frames_results.png, next to the rendered-data ones.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}; export PY
DATA_ROOT=${1:-../shared/data/pets2009}
FRAMES_ROOT=${FRAMES_ROOT:-}; export FRAMES_ROOT
TAG=pets2009; [ -n "$FRAMES_ROOT" ] && TAG=pets2009_frames
OUT=${OUT:-runs/$TAG}
SEEDS=${SEEDS:-"0 1"}
STEPS_BASE=${STEPS_BASE:-2000}
STEPS_SYNC=${STEPS_SYNC:-800}
JOBS=${JOBS:-2}
TRAIN_DATA="$OUT/data_random"
# shellcheck source=scripts/pets2009_common.sh
source scripts/pets2009_common.sh   # CELL, SCALE, ACT (why they are what they are), pets_train, throttle
# The sync architecture of the committed PETS2009 results: a flow encoder of its own, matching at strides 16
# and 8 (small.yaml before issue 12; small.yaml now matches the counting features at stride 16 only).
ARCH=${ARCH-"model.flow_features=separate model.corr_levels=[1,2]"}
# 1. data sets (scripts/pets2009_data.sh): the MVMS split at random latency kappa 5 s and constant tau +5 s / -5 s
scripts/pets2009_data.sh "$DATA_ROOT" "$OUT"

# run NAME CONFIG STEPS SEED [overrides...]: one training run with the sync architecture ARCH
# shellcheck disable=SC2086
run() {
  local name=$1 cfg=$2 steps=$3 seed=$4; shift 4
  pets_train "$name" "$cfg" "$seed" train.max_steps="$steps" train.log_every=50 $ARCH "$@"
}

# 2. baselines from scratch (BaseU on unsynchronized frames, BaseS on synchronized frames)
for s in $SEEDS; do
  throttle; run base_u_init small_base_u "$STEPS_BASE" "$s" &
  throttle; run base_s small_base_s "$STEPS_BASE" "$s" &
done
wait
# 3. every other model starts from its regime's baseline with the same budget; BaseU trains on too
SIM="loss.sync_loss=sim loss.gamma=10"
for s in $SEEDS; do
  U="train.init_checkpoint=$OUT/seed$s/base_u_init.pt"
  S="train.init_checkpoint=$OUT/seed$s/base_s.pt"
  throttle; run base_u small_base_u "$STEPS_SYNC" "$s" "$U" &
  throttle; run base_su small_base_su "$STEPS_SYNC" "$s" "$S" &
  throttle; run cls_epi_w small_cls_epi "$STEPS_SYNC" "$s" "$S" &
  # shellcheck disable=SC2086
  { throttle; run cls_epi small_cls_epi "$STEPS_SYNC" "$s" "$U" $SIM & }
  # shellcheck disable=SC2086
  { throttle; run cls_cor small_cls_cor "$STEPS_SYNC" "$s" "$U" $SIM & }
  # shellcheck disable=SC2086
  { throttle; run cls_cat small_cls_cat "$STEPS_SYNC" "$s" "$U" $SIM & }
  # shellcheck disable=SC2086
  { throttle; run sls small_sls "$STEPS_SYNC" "$s" "$U" $SIM & }
done
wait

# 4. evaluations, tables, model cards and figure
# shellcheck disable=SC2086
$PY -m vsync_ros.reports.pets_results --runs "$OUT" --seeds $SEEDS --jobs "$JOBS" --json "docs/results/$TAG.json" \
  --markdown "docs/results/$TAG.md" --cards "models/$TAG" --figure "docs/img/${TAG}_results.png"
