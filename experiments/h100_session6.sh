#!/usr/bin/env bash
# Sixth H100 call: A/A run A of the timed GPU grid (as `make aa` records it), then the
# reference script in the same call (wall-time ratio). Run B follows in session 7 on
# the same warm machine.
set -u
source experiments/device_setup.sh
git rev-parse HEAD >/dev/null 2>&1 || { git init -q -b main && git add -A && git -c user.name=d -c user.email=d@localhost commit -qm device; }
AA=.asv/aa
LABEL="git -C $AA/repo -c user.name=aa -c user.email=aa@localhost"
rm -rf $AA && mkdir -p $AA/repo
$LABEL init -q -b main && $LABEL commit -q --allow-empty -m A && $LABEL tag A && $LABEL commit -q --allow-empty -m B && $LABEL tag B
START=$(date +%s)
timeout 250 $PY tools/record_run.py --python "$PY" --machine h100 --repo $AA/repo --commit $($LABEL rev-parse A) \
  --results-dir $AA/results --times-only > "$OUT/run_a.log" 2>&1
echo "run A: rc $? in $(( $(date +%s) - START )) s"
grep -E 'wall time|failed' "$OUT/run_a.log" | head -5
START=$(date +%s)
timeout 300 $PY experiments/reference_per_config.py .ref "$OUT/reference.jsonl" 2>&1 | grep -v '%|' | tail -9
echo "reference: $(( $(date +%s) - START )) s (process wall, import included)"
tar czf "$OUT/aa_a.tgz" $AA
