#!/usr/bin/env bash
# Unsynchronized multi-view 3D pose (paper Sec. IV-D, Tables IV-VII) on the synthetic studio rig:
# generate the data, train BaseU, CLS-epi (l_p + 0.01 l_s) and BaseS (+ CLS-cor with WITH_CLS_COR=1),
# evaluate at kappa = 8, 32, 64 /50 s on a held-out world seed, write docs/pose_results.{md,json} and
# docs/img/pose_views.png, ship models/studio_pose_{base_u,cls_epi}.pt (pair c of step 6). About 105 min
# on 2 CPU cores with the defaults (trainings run in parallel, one thread each); WITH_LONGER=0 stops after
# step 5 (about 45 min) and ships that pair instead.
#
# Knobs (environment): N_TRAIN samples per training world (3 worlds), N_TEST test frames per latency,
# STEPS training steps per model, FT / FT2 / W6 / W6B steps of the continuation stages (5, 6a-c), TRAIN_DT s between
# training reference frames, DATA / RUNS / DOCS output folders, WITH_BASE_S=0 to skip BaseS,
# WITH_CLS_COR=1 to add CLS-cor, WITH_LONGER=0 to skip step 6.
# Tiny smoke run:  N_TRAIN=10 N_TEST=6 STEPS=20 FT=10 FT2=10 W6=10 W6B=10 WITH_LONGER=1 \
#                  DATA=/tmp/p/data RUNS=/tmp/p/runs DOCS=/tmp/p/docs scripts/train_pose_models.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
N_TRAIN=${N_TRAIN:-300}
N_TEST=${N_TEST:-150}
STEPS=${STEPS:-1500}
TRAIN_DT=${TRAIN_DT:-0.32}
DATA=${DATA:-data}
RUNS=${RUNS:-runs/pose}
DOCS=${DOCS:-docs}
WITH_BASE_S=${WITH_BASE_S:-1}
WITH_CLS_COR=${WITH_CLS_COR:-0}
export OMP_NUM_THREADS=1
mkdir -p "$RUNS" "$DOCS/img"

# 1. data: 160x160, one motion switch every 6 s (idle / walk / turn / wave / sit).
#    Training: world seeds 11, 12, 13 with random latency kappa 8, 32, 64 /50 s (h36m_train offsets,
#    whole 50 Hz frames; reference frames every TRAIN_DT s for more pose variety than 4/50 s).
#    Test: a fresh world seed 99 (new body, motions, room), h36m_test sampling (every 64/50 s), one set per kappa.
synth() { [ -f "$1/manifest.json" ] || $PY -m vsync_ros.data.cli "$@" --world pose --segment-s 6 --size 160x160 \
    --no-progress --no-sheet; }
synth "$DATA/pose_train_s11" --preset h36m_train --kappa 0.16 --dt "$TRAIN_DT" --n-train "$N_TRAIN" --n-test 0 --seed 11 &
synth "$DATA/pose_train_s12" --preset h36m_train --kappa 0.64 --dt "$TRAIN_DT" --n-train "$N_TRAIN" --n-test 0 --seed 12 &
wait
synth "$DATA/pose_train_s13" --preset h36m_train --kappa 1.28 --dt "$TRAIN_DT" --n-train "$N_TRAIN" --n-test 0 --seed 13 &
synth "$DATA/pose_test_k8" --preset h36m_test --kappa 0.16 --n-train 0 --n-test "$N_TEST" --seed 99 &
wait
synth "$DATA/pose_test_k32" --preset h36m_test --kappa 0.64 --n-train 0 --n-test "$N_TEST" --seed 99 &
synth "$DATA/pose_test_k64" --preset h36m_test --kappa 1.28 --n-train 0 --n-test "$N_TEST" --seed 99 &
wait
ROOTS="$DATA/pose_train_s11,$DATA/pose_train_s12,$DATA/pose_train_s13"

# 2. training (config/train/pose_small_*.yaml), in parallel, one thread each
train() { $PY -m vsync_ros.engine.train --config "config/train/pose_small_$1.yaml" data.root="$ROOTS" train.threads=1 \
    train.max_steps="$STEPS" train.out="$RUNS/pose_$1.pt" > "$RUNS/train_$1.log" 2>&1; }  # progress: tail -c 200 $RUNS/train_*.log
MODELS="base_u cls_epi"
[ "$WITH_BASE_S" = 1 ] && MODELS="$MODELS base_s"
[ "$WITH_CLS_COR" = 1 ] && MODELS="$MODELS cls_cor"
for m in $MODELS; do train "$m" & done
wait
for m in $MODELS; do tail -n 1 "$RUNS/train_$m.log"; done

# 3. evaluation at kappa 8 / 32 / 64 /50 s (DLT root, as deployed)
evaluate() { for k in 8 32 64; do $PY -m vsync_ros.engine.evaluate --checkpoint "$RUNS/pose_$1.pt" --data "$DATA/pose_test_k$k" \
    --threads 1 --no-progress --json "$RUNS/eval_$1_k$k.json" > "$RUNS/eval_$1_k$k.log"; head -n 1 "$RUNS/eval_$1_k$k.log"
    done; }
for m in $MODELS; do evaluate "$m" & done
wait

# 4. report and figure
declare -A NAME=([base_u]=BaseU [base_s]=BaseS [cls_epi]=CLS-epi [cls_cor]=CLS-cor)
SPECS=()
for m in $MODELS; do for k in 8 32 64; do SPECS+=(--eval "${NAME[$m]}:$k:$RUNS/eval_${m}_k$k.json"); done; done
$PY -m vsync_ros.reports.pose_results "${SPECS[@]}" --out "$DOCS/pose_results.md" --json "$DOCS/pose_results.json"
# rows: GT, BaseU first, CLS-epi last (the kappa 64/50 s frame where those two differ most is shown)
FIG=()
for m in base_u $(echo "$MODELS" | tr ' ' '\n' | grep -v -e base_u -e cls_epi) cls_epi; do
    FIG+=(--eval "${NAME[$m]}:$RUNS/eval_${m}_k64.json")
done
$PY -m vsync_ros.reports.pose_figures --data "$DATA/pose_test_k64" "${FIG[@]}" --out "$DOCS/img/pose_views.png"

# 5. warm start (as the counting models): BaseU and CLS-epi both continue 700 steps from the 1500-step
#    BaseU, so both have the same budget.
FT=${FT:-700}
for m in base_u cls_epi; do
    $PY -m vsync_ros.engine.train --config "config/train/pose_small_$m.yaml" data.root="$ROOTS" train.threads=1 \
        train.max_steps="$FT" train.init_checkpoint="$RUNS/pose_base_u.pt" train.out="$RUNS/pose_${m}_ft.pt" \
        --no-progress > "$RUNS/train_${m}_ft.log" 2>&1 &
done
wait

# 6. (WITH_LONGER=1, default) longer training, equal budgets within each pair:
#    a) each of the two continues FT2 steps from its own step-5 model at lr 3e-4 (same 3 worlds);
#    b) three more training worlds (seeds 14-16): each continues 1500 steps from its step-5 model on 6 worlds;
#    c) from b)'s BaseU, BaseU and CLS-epi each train 1000 more steps on the 6 worlds (the warm-start recipe);
#       c is shipped: the most accurate models measured.
FT2=${FT2:-2000}
W6=${W6:-1500}
W6B=${W6B:-1000}
WITH_LONGER=${WITH_LONGER:-1}
cont() {  # cont NAME METHOD INIT STEPS ROOTS SEED
    $PY -m vsync_ros.engine.train --config "config/train/pose_small_$2.yaml" data.root="$5" train.threads=1 \
        train.max_steps="$4" train.lr=3.0e-4 train.seed="$6" train.init_checkpoint="$3" train.out="$RUNS/pose_$1.pt" \
        --no-progress > "$RUNS/train_$1.log" 2>&1; }
evaluate_all() { for k in 8 32 64; do $PY -m vsync_ros.engine.evaluate --checkpoint "$RUNS/pose_$1.pt" \
    --data "$DATA/pose_test_k$k" --threads 1 --no-progress --json "$RUNS/eval_$1_k$k.json" > "$RUNS/eval_$1_k$k.log"; done; }
VARIANTS="base_u_ft cls_epi_ft"
if [ "$WITH_LONGER" = 1 ]; then
    cont base_u_ft2 base_u "$RUNS/pose_base_u_ft.pt" "$FT2" "$ROOTS" 1 &
    cont cls_epi_ft2 cls_epi "$RUNS/pose_cls_epi_ft.pt" "$FT2" "$ROOTS" 1 &
    synth "$DATA/pose_train_s14" --preset h36m_train --kappa 0.16 --dt "$TRAIN_DT" --n-train "$N_TRAIN" --n-test 0 --seed 14
    synth "$DATA/pose_train_s15" --preset h36m_train --kappa 0.64 --dt "$TRAIN_DT" --n-train "$N_TRAIN" --n-test 0 --seed 15
    synth "$DATA/pose_train_s16" --preset h36m_train --kappa 1.28 --dt "$TRAIN_DT" --n-train "$N_TRAIN" --n-test 0 --seed 16
    wait
    ROOTS6="$ROOTS,$DATA/pose_train_s14,$DATA/pose_train_s15,$DATA/pose_train_s16"
    cont base_u_w6 base_u "$RUNS/pose_base_u_ft.pt" "$W6" "$ROOTS6" 2 &
    cont cls_epi_w6 cls_epi "$RUNS/pose_cls_epi_ft.pt" "$W6" "$ROOTS6" 2 &
    wait
    cont base_u_w6b base_u "$RUNS/pose_base_u_w6.pt" "$W6B" "$ROOTS6" 3 &
    cont cls_epi_w6b cls_epi "$RUNS/pose_base_u_w6.pt" "$W6B" "$ROOTS6" 3 &
    wait
    VARIANTS="base_u_w6b cls_epi_w6b $VARIANTS base_u_ft2 cls_epi_ft2 base_u_w6 cls_epi_w6"  # shipped pair first
fi
for m in $VARIANTS; do evaluate_all "$m" & done
wait
declare -A LABEL=([base_u_ft]="BaseU (2200 steps)" [cls_epi_ft]="CLS-epi (2200 steps)" [base_u_ft2]="BaseU (a, 4200 steps)"
    [cls_epi_ft2]="CLS-epi (a, 4200 steps)" [base_u_w6]="BaseU (b, 6 worlds, 3700 steps)"
    [cls_epi_w6]="CLS-epi (b, 6 worlds, 3700 steps)" [base_u_w6b]="BaseU" [cls_epi_w6b]="CLS-epi")
SPECS=()
for k in 8 32 64; do
    for m in $VARIANTS; do SPECS+=(--eval "${LABEL[$m]}:$k:$RUNS/eval_${m}_k$k.json"); done
    [ "$WITH_BASE_S" = 1 ] && SPECS+=(--eval "BaseS (1500 steps):$k:$RUNS/eval_base_s_k$k.json")
    SPECS+=(--eval "BaseU (1500 steps):$k:$RUNS/eval_base_u_k$k.json")
    SPECS+=(--eval "CLS-epi from scratch (1500 steps):$k:$RUNS/eval_cls_epi_k$k.json")
done
$PY -m vsync_ros.reports.pose_results "${SPECS[@]}" --out "$DOCS/pose_results.md" --json "$DOCS/pose_results.json"
SHIP=ft
[ "$WITH_LONGER" = 1 ] && SHIP=w6b
$PY -m vsync_ros.reports.pose_figures --data "$DATA/pose_test_k64" --eval "BaseU:$RUNS/eval_base_u_${SHIP}_k64.json" \
    --eval "CLS-epi:$RUNS/eval_cls_epi_${SHIP}_k64.json" --out "$DOCS/img/pose_views.png"

# 7. ship BaseU and CLS-epi of pair c (step 5's pair with WITH_LONGER=0); the pose node's default is
#    models/studio_pose_cls_epi.pt
if [ "$RUNS" = runs/pose ]; then
    cp "$RUNS/pose_base_u_$SHIP.pt" models/studio_pose_base_u.pt
    cp "$RUNS/pose_cls_epi_$SHIP.pt" models/studio_pose_cls_epi.pt
fi
