#!/usr/bin/env bash
# Ninth H100 call: asv_runner 0.3.2 against the pinned 0.2.5 on the batch-1 and batch-128
# configs of the timed GPU grid (80 results each), one run each, back to back.
set -u
source experiments/device_setup.sh
git rev-parse HEAD >/dev/null 2>&1 || { git init -q -b main && git add -A && git -c user.name=d -c user.email=d@localhost commit -qm device; }
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site032 .whl032/*.whl
SUBSET='AttentionBias\.time_\w+\((1|128), '
for runner in 032 025; do
  case $runner in 032) EXTRA=/tmp/site032: ;; *) EXTRA= ;; esac
  START=$(date +%s)
  PYTHONPATH=$EXTRA/tmp/site timeout 200 $PY tools/record_run.py --python "$PY" --machine h100-runner$runner \
    --bench "$SUBSET" --results-dir .asv/runners/results > "$OUT/runner$runner.log" 2>&1
  echo "asv_runner $runner: rc $? in $(( $(date +%s) - START )) s"
  PYTHONPATH=$EXTRA/tmp/site $PY -c "import asv_runner, importlib.metadata as m; print(m.version('asv_runner'))"
  grep -E 'wall time|failed' "$OUT/runner$runner.log" | head -3
done
tar czf "$OUT/runners.tgz" .asv/runners/results
