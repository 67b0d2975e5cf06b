#!/usr/bin/env bash
# Tenth H100 call: `make aa` (A/A of the timed GPU grid) with at least 10 samples a result.
set -u
source experiments/device_setup.sh
git rev-parse HEAD >/dev/null 2>&1 || { git init -q -b main && git add -A && git -c user.name=d -c user.email=d@localhost commit -qm device; }
mkdir -p /tmp/imagevenv && touch /tmp/imagevenv/.installed
START=$(date +%s)
timeout 500 make aa VENV=/tmp/imagevenv VPY="$PY" MACHINE=h100 > "$OUT/aa.log" 2>&1
echo "make aa: rc $? in $(( $(date +%s) - START )) s"
grep -E 'wall time|failed|results;|detectable|asv compare' "$OUT/aa.log" | head
tar czf "$OUT/aa_results.tgz" .asv/aa/results .asv/aa/repo
