#!/usr/bin/env bash
# Create ./.venv and install everything vsync_ros needs on a fresh machine (idempotent).
#  - rclpy + messages: from a sourced ROS 2 install if one is present, else PyPI's ros-* wheels.
#  - torch: the CPU build (torch==2.13.0, from the machine's wheel cache) unless an NVIDIA GPU is
#    present or VSYNC_TORCH is set (e.g. VSYNC_TORCH="torch==2.13.0 --index-url ...").
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VSYNC_VENV:-.venv}
PY=${PYTHON:-python3}

if [ ! -x "$VENV/bin/python" ]; then
  if [ -n "${ROS_DISTRO:-}" ]; then
    # A sourced ROS 2 install: see its rclpy / message packages from the venv.
    "$PY" -m venv --system-site-packages "$VENV"
  else
    "$PY" -m venv "$VENV"
  fi
fi
VPY="$VENV/bin/python"
stamp="$VENV/.vsync-deps-$(cat scripts/bootstrap.sh requirements.txt | sha1sum | cut -c1-12)"
if [ -f "$stamp" ]; then
  "$VPY" -m pip install -q --no-deps --no-build-isolation -e . >/dev/null
  exit 0
fi

echo "[bootstrap] installing into $VENV (first run takes a few minutes)"
"$VPY" -m pip install -q --upgrade pip 2>&1 | grep -v "is ignored" || true

if ! "$VPY" -c "import torch" 2>/dev/null; then
  if [ -n "${VSYNC_TORCH:-}" ]; then
    # shellcheck disable=SC2086
    "$VPY" -m pip install -q $VSYNC_TORCH
  elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    "$VPY" -m pip install -q torch
  else
    "$VPY" -m pip install -q torch==2.13.0 2>&1 | grep -v "is ignored" || \
      "$VPY" -m pip install -q torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
  fi
fi

if ! "$VPY" -c "import rclpy, sensor_msgs, visualization_msgs, diagnostic_msgs" 2>/dev/null; then
  "$VPY" -m pip install -q ros-rclpy ros-rmw-fastrtps-cpp ros-sensor-msgs ros-std-msgs \
    ros-visualization-msgs ros-geometry-msgs ros-diagnostic-msgs 2>&1 | grep -v "is ignored" || true
fi

"$VPY" -m pip install -q -r requirements.txt 2>&1 | grep -v "is ignored" || true
"$VPY" -m pip install -q --no-deps --no-build-isolation -e . 2>&1 | grep -v "is ignored" || true
"$VPY" -c "import torch, rclpy, cv2, numpy, rosbags, yaml, tqdm" || {
  echo "[bootstrap] a dependency failed to import" >&2; exit 1; }
touch "$stamp"
echo "[bootstrap] ready: $("$VPY" -c 'import torch; print("torch", torch.__version__, "cuda" if torch.cuda.is_available() else "cpu")')"
