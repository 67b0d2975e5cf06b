#!/usr/bin/env bash
# Fourth H100 call: `make bench` (the README command) on the whole grid, then the
# reference script on the same grid in the same call, then asv_runner 0.3.2 on the
# batch-1 configs. GPU clocks are logged throughout.
set -u
source experiments/device_setup.sh
git rev-parse HEAD >/dev/null 2>&1 || { git init -q -b main && git add -A && git -c user.name=d -c user.email=d@localhost commit -qm device; }
nvidia-smi --query-gpu=timestamp,clocks.sm,utilization.gpu,power.draw,temperature.gpu --format=csv,noheader -lms 250 > "$OUT/clocks.csv" &
CLOCKS=$!
START=$(date +%s)
timeout 260 make bench MACHINE=h100 PIP_NO_INDEX=1 PIP_FIND_LINKS="$PWD/.whl" > "$OUT/bench.log" 2>&1
RC=$?
echo "make bench: rc $RC in $(( $(date +%s) - START )) s"
if [ $RC -ne 0 ] && ! ls results/h100/*existing* >/dev/null 2>&1; then
  START=$(date +%s)
  timeout 240 $PY tools/record_run.py --python "$PY" --machine h100 >> "$OUT/bench.log" 2>&1
  echo "fallback record_run: rc $? in $(( $(date +%s) - START )) s"
  $PY tools/speedup_summary.py --machine h100 >> "$OUT/bench.log" 2>&1
fi
grep -E 'reusing|Recorded|wall time|against|benchmarked|note:|failed|ERROR' "$OUT/bench.log" | head
sed -n '/^AttentionBias on/,$p' "$OUT/bench.log" | head -12
tar czf "$OUT/bench_results.tgz" results
START=$(date +%s)
timeout 300 $PY experiments/reference_per_config.py .ref "$OUT/reference.jsonl" 2>&1 | grep -v '%|' | tail -9
echo "reference: $(( $(date +%s) - START )) s (process wall, import included)"
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site032 .whl032/*.whl
START=$(date +%s)
PYTHONPATH=/tmp/site032:/tmp/site timeout 100 $PY tools/record_run.py --python "$PY" \
  --machine h100-runner032 --bench 'AttentionBias\.time_\w+\(1, ' > "$OUT/runner032.log" 2>&1
echo "runner 0.3.2 batch-1 subset: rc $? in $(( $(date +%s) - START )) s"
tar czf "$OUT/runner032_results.tgz" results/h100-runner032 2>/dev/null
kill $CLOCKS
