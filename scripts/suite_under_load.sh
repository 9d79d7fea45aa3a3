#!/usr/bin/env bash
# The suite, ten times in a row, on a fresh clone with nothing beside it, while two busy loops
# keep both cores of the machine busy (issue 8: no test may be flaky under load).
#   scripts/suite_under_load.sh [commit] [runs]      (default: HEAD, 10)
# Prints one line per run; each run's log is /tmp/suite-under-load-<sha>/run<N>.log.
set -u
repo=$(git rev-parse --show-toplevel)
sha=$(git -C "$repo" rev-parse --short "${1:-HEAD}")
runs=${2:-10}
base=/tmp/suite-under-load-$sha
rm -rf "$base"; mkdir -p "$base"
git clone -q "$repo" "$base/pipe-service" && cd "$base/pipe-service" && git checkout -q "$sha"
test ! -e ../shared || { echo "../shared exists beside the clone"; exit 1; }
export DATABASE_URL=${DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/test}
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/0}
make setup > "$base/setup.log" 2>&1 || { echo "make setup failed: $base/setup.log"; exit 1; }
python3 -c 'while True: pass' & hog1=$!
python3 -c 'while True: pass' & hog2=$!
trap 'kill $hog1 $hog2' EXIT
for i in $(seq 1 "$runs"); do
  start=$(date +%s)
  make test > "$base/run$i.log" 2>&1; rc=$?
  echo "run $i rc=$rc $(( $(date +%s) - start ))s $(grep -E '[0-9]+ (passed|failed)' "$base/run$i.log" | tail -1)"
done
