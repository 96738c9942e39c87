#!/usr/bin/env bash
# The PETS2009 data sets of the README's PETS2009 results, rendered from the real calibration and annotations:
# the MVMS split (train S2L2 + S2L3, test S1L1-1, S1L1-2, S1L2-1, S1L2-2), every frame set whose view times lie
# inside its sequence, at random latency kappa 5 s (training and the main test) and constant tau = +5 s / -5 s
# (the paper's other column), rendered at the CPU input size 192x144. A data set that exists is kept.
#
#   scripts/pets2009_data.sh [DATA_ROOT] [OUT]      # defaults ../shared/data/pets2009 runs/pets2009
#
# Writes OUT/data_random and OUT/data_constant (about 4 min on 2 CPU cores).
# FRAMES_ROOT (environment): the MVMS release of PETS2009 (real frames of views 1-3 and ground-plane maps, the
# folder holding dmaps/). When set, the data sets hold its real frames (vsync-synth --world pets-frames; DATA_ROOT
# gives the calibration) instead of rendered ones. A data set of the other kind in OUT is refused.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
DATA_ROOT=${1:-../shared/data/pets2009}
OUT=${2:-runs/pets2009}
if [ ! -d "$DATA_ROOT" ]; then
  echo "pets2009_data: no PETS2009 data root at $DATA_ROOT (give it as the first argument)" >&2
  exit 2
fi
mkdir -p "$OUT"
FRAMES_ROOT=${FRAMES_ROOT:-}
if [ -n "$FRAMES_ROOT" ]; then
  WORLD=(--world pets-frames --frames-root "$FRAMES_ROOT"); KIND=pets2009-frames
else
  WORLD=(--world pets); KIND=pets2009
fi
for mode in random constant; do
  manifest="$OUT/data_$mode/manifest.json"
  if [ -f "$manifest" ]; then
    have=$($PY -c 'import json, sys; print(json.load(open(sys.argv[1]))["world"].get("source", {}).get("type"))' \
      "$manifest")
    if [ "$have" != "$KIND" ]; then
      echo "pets2009_data: $manifest holds a $have data set, not $KIND: give another OUT" >&2
      exit 2
    fi
    continue
  fi
  $PY -m vsync_ros.data.cli "$OUT/data_$mode" "${WORLD[@]}" --data-root "$DATA_ROOT" --mode "$mode" --kappa 5 \
    --size 192x144 --format jpg --no-sheet --overwrite
done
