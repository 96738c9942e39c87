# Sourced by the PETS2009 scripts (reproduce_pets2009.sh, pets2009_budget.sh): the CPU configuration of the
# PETS2009 runs and the training / throttling helpers. Needs PY, OUT (checkpoints), TRAIN_DATA (the data set
# the runs train on) and JOBS.

# ground cell of the CPU configuration (the paper: 0.4 m, 152x177 cells; here 76x88 cells of 0.8 m)
CELL=0.8
# density_scale x cell area constant: the per-cell targets stay those of the 0.4 m plaza setup (1000 at 0.4 m).
SCALE=250
# Linear density output: with the MVMS ReLU output, 3 of 6 baseline runs on this large, mostly empty ground
# grid collapsed to an all-zero map within the first 100 steps (dead output unit; the loss then stays at the
# all-zero value): 1 of 4 at density_scale 1000, 2 of 2 at 250.
ACT=none

# pets_train NAME CONFIG SEED [overrides...]: one training run on one CPU thread into $OUT/seed$SEED/NAME.pt
# (skipped when that checkpoint exists; the log is next to it)
pets_train() {
  local name=$1 cfg=$2 seed=$3; shift 3
  local out="$OUT/seed$seed/$name.pt"
  [ -f "$out" ] && return 0
  mkdir -p "$OUT/seed$seed"
  $PY -m vsync_ros.engine.train --config "config/train/$cfg.yaml" data.root="$TRAIN_DATA" data.gp_cell_m=$CELL \
    model.density_scale=$SCALE model.output_activation=$ACT train.threads=1 train.seed="$seed" train.out="$out" \
    "$@" > "$OUT/seed$seed/$name.log" 2>&1 || { echo "training $out failed: see $OUT/seed$seed/$name.log" >&2; return 1; }
  echo "trained $out"
}

# throttle: wait while JOBS runs are going
throttle() { while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n || exit 1; done; }
