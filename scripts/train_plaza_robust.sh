#!/usr/bin/env bash
# Plaza models for new scenes, lost cameras and dense crowds (README "Robustness"): training data with
# scene randomization (12 training scenes) and crowds of 5-60 people, view dropout 0.15 per view, then
# held-out evaluation on scenes no training run used.
#
#   scripts/train_plaza_robust.sh
#
# Environment: OUT (default runs/plaza_robust), STEPS_BASE / STEPS_SYNC (default 2000 / 800), JOBS (2),
# SEED (training seed, default 0), NICE (default 10: other work on the machine goes first), MODELS (the
# models trained from the baselines, default "cls_epi base_u cls_epi_w base_su"; all: add "cls_cor sls cls_cat").
# Held-out sets (world seed 7, never used in training):
#   heldout_new_scenes   10-30 people, 4 scenes no training split used (the training density)
#   heldout_train_scene  10-30 people, on 4 of the training scenes (new people)
#   heldout_dense        30-60 people, 4 new scenes
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
OUT=${OUT:-runs/plaza_robust}
STEPS_BASE=${STEPS_BASE:-2000}
STEPS_SYNC=${STEPS_SYNC:-800}
JOBS=${JOBS:-2}
SEED=${SEED:-0}
NICE=${NICE:-10}
DROP=0.15
MODELS=${MODELS:-"cls_epi base_u cls_epi_w base_su"}
mkdir -p "$OUT"
synth() { local out=$1; shift; [ -f "$OUT/$out/manifest.json" ] || nice -n "$NICE" $PY -m vsync_ros.data.cli "$OUT/$out" \
  --preset pets --mode random --dt 0.5 --format jpg --no-sheet --no-progress --overwrite "$@"; }
synth train --seed 0 --scenes 12 --test-scenes 4 --people 5 60 --n-train 1200 --n-test 100
synth heldout_new_scenes --seed 7 --scenes 1 --test-scenes 4 --people 10 30 --n-train 1 --n-test 300
synth heldout_train_scene --seed 7 --scenes 1 --test-scenes 4 --test-on-train-scenes-of 0 --people 10 30 --n-train 1 --n-test 300
synth heldout_dense --seed 7 --scenes 1 --test-scenes 4 --people 30 60 --n-train 1 --n-test 300

run() {
  local name=$1 cfg=$2 steps=$3; shift 3
  local out="$OUT/$name.pt"
  [ -f "$out" ] && return 0
  nice -n "$NICE" $PY -m vsync_ros.engine.train --config "config/train/$cfg.yaml" data.root="$OUT/train" \
    train.view_dropout=$DROP train.threads=1 train.seed="$SEED" train.max_steps="$steps" train.out="$out" \
    train.log_every=50 "$@" > "$OUT/$name.log" 2>&1 || { echo "training $out failed: see $OUT/$name.log" >&2; return 1; }
  echo "trained $out"
}
throttle() { while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n || exit 1; done; }

throttle; run base_u_init small_base_u "$STEPS_BASE" &
throttle; run base_s small_base_s "$STEPS_BASE" &
wait
U="train.init_checkpoint=$OUT/base_u_init.pt"
S="train.init_checkpoint=$OUT/base_s.pt"
SIM="loss.sync_loss=sim loss.gamma=10"
declare -A CFG=([cls_epi]="small_cls_epi $U $SIM" [base_u]="small_base_u $U" [cls_epi_w]="small_cls_epi $S"
                [base_su]="small_base_su $S" [cls_cor]="small_cls_cor $U $SIM" [sls]="small_sls $U $SIM"
                [cls_cat]="small_cls_cat $U $SIM")
for m in $MODELS; do
  read -r -a spec <<< "${CFG[$m]}"
  throttle; run "$m" "${spec[0]}" "$STEPS_SYNC" "${spec[@]:1}" &
done
wait

# evaluations: each model on the three held-out sets, and with each camera missing on the new scenes
mkdir -p "$OUT/eval"
for m in base_s $MODELS; do
  for set in heldout_new_scenes heldout_train_scene heldout_dense; do
    j="$OUT/eval/${m}_$set.json"
    [ -f "$j" ] || { throttle; nice -n "$NICE" $PY -m vsync_ros.engine.evaluate --checkpoint "$OUT/$m.pt" \
      --data "$OUT/$set" --threads 1 --no-progress --json "$j" > /dev/null & }
  done
  j="$OUT/eval/${m}_each_view_missing.json"
  [ -f "$j" ] || { throttle; nice -n "$NICE" $PY -m vsync_ros.engine.evaluate --checkpoint "$OUT/$m.pt" \
    --data "$OUT/heldout_new_scenes" --threads 1 --no-progress --each-view-missing --json "$j" > "$OUT/eval/${m}_each_view_missing.txt" & }
done
wait
echo "done: $OUT"
