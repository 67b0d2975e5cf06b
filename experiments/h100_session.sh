#!/usr/bin/env bash
# One device call on the H100: A/A of the whole AttentionBias grid (make aa), then
# the reference script on the same grid, each timed. Run from the repository root
# with .whl and .ref carried (see experiments/README.md). Writes to $OUT.
set -u
source experiments/device_setup.sh
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm,temperature.gpu,power.draw,power.limit --format=csv
$PY -c "import torch; print('torch', torch.__version__, torch.version.git_version, 'cuda', torch.version.cuda)"
nproc; lscpu | grep -E 'Model name|MHz' || true

# The venv is the image's Python itself (CUDA torch) with the wheels on PYTHONPATH.
mkdir -p /tmp/imagevenv && touch /tmp/imagevenv/.installed
START=$(date +%s)
make aa VENV=/tmp/imagevenv VPY="$PY" MACHINE=h100 AA_ARGS="--format github" 2>&1 | tee "$OUT/aa.log" \
  | grep -vE '^\s+(For parameters|asv:|$)' | grep -E 'Recorded|wall time|results;|detectable|asv compare|flagged|^  [A-Z]|failed' 
echo "make aa: $(( $(date +%s) - START )) s"
tar czf "$OUT/aa_results.tgz" .asv/aa/results
A=$(git -C .asv/aa/repo rev-parse A); B=$(git -C .asv/aa/repo rev-parse B)
$PY tools/noise_report.py $A $B --results-dir .asv/aa/results --machine h100 --format json > "$OUT/noise.json"
$PY tools/speedup_summary.py --results-dir .asv/aa/results --machine h100 --commit $A

START=$(date +%s)
timeout "${REFERENCE_TIMEOUT:-280}" $PY experiments/reference_per_config.py .ref "$OUT/reference.jsonl" 2>&1 \
  | grep -v '%|' | tail -12
echo "reference: $(( $(date +%s) - START )) s (process wall, import included)"
