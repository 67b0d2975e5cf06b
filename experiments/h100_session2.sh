#!/usr/bin/env bash
# Second H100 call: where a benchmark process's time goes, then the A/A experiment (make aa).
set -u
source experiments/device_setup.sh
timeout 90 $PY experiments/process_costs.py 2>&1 | grep -v Warning | tee "$OUT/process_costs.txt"
mkdir -p /tmp/imagevenv && touch /tmp/imagevenv/.installed
START=$(date +%s)
timeout "${AA_TIMEOUT:-470}" make aa VENV=/tmp/imagevenv VPY="$PY" MACHINE=h100 AA_ARGS="--format github" > "$OUT/aa.log" 2>&1
echo "make aa: rc $? in $(( $(date +%s) - START )) s"
grep -E 'wall time|failed|results;|detectable|asv compare|^  [A-Z]' "$OUT/aa.log" | head -40
tar czf "$OUT/aa_results.tgz" .asv/aa/results
