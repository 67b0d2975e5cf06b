#!/usr/bin/env bash
# Fifth H100 call: why launch-bound configs move between processes (launch_noise.py),
# then the whole GPU grid with its Profile class (times and track_* figures).
set -u
source experiments/device_setup.sh
git rev-parse HEAD >/dev/null 2>&1 || { git init -q -b main && git add -A && git -c user.name=d -c user.email=d@localhost commit -qm device; }
{ nproc; lscpu; nvidia-smi; grep MHz /proc/cpuinfo | sort | uniq -c; cat /proc/loadavg; } > "$OUT/sysinfo.txt" 2>&1
nvidia-smi --query-gpu=timestamp,clocks.sm,utilization.gpu,power.draw --format=csv,noheader -lms 500 > "$OUT/clocks.csv" &
CLOCKS=$!
START=$(date +%s)
timeout 160 $PY experiments/launch_noise.py "$OUT/launch_noise.jsonl" --processes 4 2>&1 | grep -v USDT
echo "launch_noise: $(( $(date +%s) - START )) s"
START=$(date +%s)
timeout 390 $PY tools/record_run.py --python "$PY" --machine h100 > "$OUT/record.log" 2>&1
echo "record_run (both GPU classes): rc $? in $(( $(date +%s) - START )) s"
grep -E 'Setting up|wall time|against|benchmarked|failed' "$OUT/record.log" | head
$PY tools/speedup_summary.py --machine h100
$PY tools/speedup_summary.py --machine h100 --figures --format csv > "$OUT/figures.csv"
$PY tools/speedup_summary.py --machine h100 --all --format github > "$OUT/all.md"
tar czf "$OUT/results.tgz" results
kill $CLOCKS
