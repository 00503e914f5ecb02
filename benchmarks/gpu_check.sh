#!/usr/bin/env bash
# The GPU checks of docs/gpu.md in one run: the CUDA tests, the pose network's speed per engine
# and batch size, and the video pipeline on the shared videos. Results go to $OUT (default
# ./gpu-results): gpu_check.log (everything printed), summary.txt (exit code and seconds of each
# section) and the benchmarks' JSON files.
#
#   bash benchmarks/gpu_check.sh [--device cuda|cpu] [--tiny] [--budget SECONDS]
#
# --device cpu --tiny runs every section in a few minutes on a CPU (tiny sizes), to check the
# script itself. Each section runs under a time limit taken from what is left of --budget
# (default 330 s); a section that fails or runs out of time is reported and the next one runs.
# Shared data: $HRTRACK_SHARED (default ../shared), laid out as ../shared (data/videos,
# data/detectors, reference). Running it again overwrites the results.
set -u
cd "$(dirname "$0")/.." || exit 1

DEVICE=cuda
TINY=0
BUDGET=330
while [ $# -gt 0 ]; do
  case "$1" in
    --device) DEVICE=$2; shift 2 ;;
    --tiny) TINY=1; shift ;;
    --budget) BUDGET=$2; shift 2 ;;
    *) echo "gpu_check.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

export PYTHONUNBUFFERED=1
export HRTRACK_SHARED=${HRTRACK_SHARED:-$PWD/../shared}
OUT=${OUT:-$PWD/gpu-results}
mkdir -p "$OUT"
LOG=$OUT/gpu_check.log
SUMMARY=$OUT/summary.txt
: > "$LOG"
: > "$SUMMARY"
VIDEOS=$HRTRACK_SHARED/data/videos
STARTED=$(date +%s)

if [ "$TINY" = 1 ]; then  # sizes for a dry run on a CPU
  PRESET=hrnet_w8; BATCHES="2 3"; COMPILE_BATCHES=2; REPEAT=1; FRAMES_ONE=3; FRAMES_CROWD=3
  LOOP=2
else
  PRESET=hrnet_w32; BATCHES="2 8 64"; COMPILE_BATCHES="64 2"; REPEAT=20; FRAMES_ONE=399
  FRAMES_CROWD=1000; LOOP=12
fi

# section NAME MAX_SECONDS COMMAND...: runs COMMAND under min(MAX_SECONDS, time left), output
# to the terminal and the log; Ctrl-C-like stop (SIGINT) at the limit, killed 15 s later.
section() {
  local name=$1 max=$2 left limit start rc
  shift 2
  left=$(( BUDGET - ($(date +%s) - STARTED) ))
  limit=$(( max < left ? max : left ))
  if [ "$limit" -lt 20 ]; then
    echo "=== $name: skipped, ${left} s left of the budget ===" | tee -a "$LOG"
    echo "$name skipped" >> "$SUMMARY"
    return
  fi
  echo "=== $name (at most ${limit} s): $* ===" | tee -a "$LOG"
  start=$(date +%s)
  timeout --signal=INT --kill-after=15 "$limit" "$@" 2>&1 | tee -a "$LOG"
  rc=${PIPESTATUS[0]}
  echo "=== $name: exit $rc after $(( $(date +%s) - start )) s ===" | tee -a "$LOG"
  echo "$name exit=$rc seconds=$(( $(date +%s) - start ))" >> "$SUMMARY"
}

section machine 30 bash -c 'command -v nvidia-smi >/dev/null && nvidia-smi -L; python3 -c "
import torch, sys
print(\"python\", sys.version.split()[0], \"torch\", torch.__version__, \"cuda\", torch.version.cuda,
      \"gpu\", torch.cuda.get_device_name(0) if torch.cuda.is_available() else None)
try:
    import onnxruntime
    print(\"onnxruntime\", onnxruntime.__version__, onnxruntime.get_available_providers())
except ImportError:
    print(\"onnxruntime missing\")
"'

# the tests that need CUDA (their names say so; elsewhere they skip)
section tests 110 python3 -m pytest -q -rs -p no:cacheprovider tests -k cuda

# the network per engine and batch size (crops/s, TFLOP/s, fraction of peak), crops, decoding
# shellcheck disable=SC2086
section speed 110 python3 -m benchmarks.speed --device "$DEVICE" --presets "$PRESET" \
  --batches $BATCHES --repeat "$REPEAT" --quick --no-extra --json "$OUT/speed.json"

# the app on the one-person video, detector ahead and not, in turns
section pipeline_one_person 100 python3 -m benchmarks.pipeline_speed --device "$DEVICE" \
  --pose-model "$PRESET" --video "$VIDEOS/mmpose_body3d_demo.mp4" --frames "$FRAMES_ONE" \
  --compare-overlap --rounds 1 --json "$OUT/pipeline_one_person.json"

# the app on the 20-person 1080p crowd, its 8 frames played forth and back
section pipeline_crowd 100 python3 -m benchmarks.pipeline_speed --device "$DEVICE" \
  --pose-model "$PRESET" --video "$VIDEOS/mmtracking_demo.mp4" --loop "$LOOP" \
  --frames "$FRAMES_CROWD" --compare-overlap --rounds 1 --json "$OUT/pipeline_crowd.json"

# torch.compile + CUDA graphs (compiles once per batch size: batch 64 first)
# shellcheck disable=SC2086
section speed_compiled 150 python3 -m benchmarks.speed --device "$DEVICE" --presets "$PRESET" \
  --batches $COMPILE_BATCHES --repeat "$REPEAT" --quick --no-extra --compile \
  --json "$OUT/speed_compiled.json"

# the crowd's 8 frames on the GPU and on the CPU: identities and keypoints compared
section crowd_vs_cpu 120 python3 -m benchmarks.pipeline_speed --device "$DEVICE" \
  --pose-model "$PRESET" --video "$VIDEOS/mmtracking_demo.mp4" --frames 8 \
  --compare-device cpu --json "$OUT/pipeline_crowd_vs_cpu.json"

echo "=== done after $(( $(date +%s) - STARTED )) s; results in $OUT ===" | tee -a "$LOG"
cat "$SUMMARY"
