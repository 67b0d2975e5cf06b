#!/usr/bin/env bash
# Seventh H100 call, on the machine of session 6: A/A run B (the noise report, the check
# and the injection run offline on the two results), then `make bench` end to end.
set -u
source experiments/device_setup.sh
git rev-parse HEAD >/dev/null 2>&1 || { git init -q -b main && git add -A && git -c user.name=d -c user.email=d@localhost commit -qm device; }
AA=.asv/aa
[ -d $AA/results/h100 ] || { echo "restoring run A from the carried tarball"; tar xzf .carry/aa_a.tgz; }
LABEL="git -C $AA/repo -c user.name=aa -c user.email=aa@localhost"
START=$(date +%s)
timeout 250 $PY tools/record_run.py --python "$PY" --machine h100 --repo $AA/repo --commit $($LABEL rev-parse B) \
  --results-dir $AA/results --times-only > "$OUT/run_b.log" 2>&1
echo "run B: rc $? in $(( $(date +%s) - START )) s"
grep -E 'wall time|failed' "$OUT/run_b.log" | head -5
$PY tools/noise_report.py $($LABEL rev-parse A) $($LABEL rev-parse B) --results-dir $AA/results --machine h100 2>&1 | tail -12
tar czf "$OUT/aa.tgz" $AA/results
START=$(date +%s)
timeout 300 make bench MACHINE=h100 PIP_NO_INDEX=1 PIP_FIND_LINKS="$PWD/.whl" > "$OUT/bench.log" 2>&1
echo "make bench: rc $? in $(( $(date +%s) - START )) s"
grep -E 'reusing|Recorded|wall time|against|benchmarked|ERROR|rror' "$OUT/bench.log" | head
sed -n '/^AttentionBias on/,$p' "$OUT/bench.log" | head -12
tar czf "$OUT/bench_results.tgz" results
