#!/usr/bin/env bash
# Eighth H100 call: A/A of the timed GPU grid with a shorter sampling budget (warm-up
# 0.05 s, repeat (3, 25, 0.1) instead of 0.1 s and (5, 50, 0.2)), from a patched copy
# of benchmarks/: does it cost precision where it saves time?
set -u
source experiments/device_setup.sh
git rev-parse HEAD >/dev/null 2>&1 || { git init -q -b main && git add -A && git -c user.name=d -c user.email=d@localhost commit -qm device; }
FAST=/tmp/fast
rm -rf $FAST && mkdir -p $FAST && cp -r benchmarks $FAST/benchmarks
sed -i 's/    warmup_time = 0.1$/    warmup_time = 0.05/; s/    repeat = (5, 50, 0.2)$/    repeat = (3, 25, 0.1)/' $FAST/benchmarks/attention_bias.py
grep -nE '^    (warmup_time|repeat) =' $FAST/benchmarks/attention_bias.py
$PY - <<PYEOF
import json, json5, pathlib
conf = json5.loads(pathlib.Path("asv.conf.json").read_text())
conf["benchmark_dir"] = "$FAST/benchmarks"
pathlib.Path("$FAST/asv.conf.json").write_text(json.dumps(conf))
PYEOF
AA=.asv/aafast
LABEL="git -C $AA/repo -c user.name=aa -c user.email=aa@localhost"
rm -rf $AA && mkdir -p $AA/repo
$LABEL init -q -b main && $LABEL commit -q --allow-empty -m A && $LABEL commit -q --allow-empty -m B
for rev in HEAD~1 HEAD; do
  START=$(date +%s)
  timeout 270 $PY tools/record_run.py --config $FAST/asv.conf.json ${GRID:+--grid $GRID} --python "$PY" --machine h100 \
    --repo $AA/repo --commit $($LABEL rev-parse $rev) --results-dir $AA/results --times-only > "$OUT/run_$rev.log" 2>&1
  echo "run $rev: rc $? in $(( $(date +%s) - START )) s"
  grep -E 'wall time|failed' "$OUT/run_$rev.log" | head -3
done
$PY tools/noise_report.py $($LABEL rev-parse HEAD~1) $($LABEL rev-parse HEAD) --results-dir $AA/results --machine h100 2>&1 | grep -v '^  AttentionBias' | tail -12
tar czf "$OUT/aafast.tgz" $AA/results
