#!/usr/bin/env bash
# Install the reference runtimes and run the benchmarks (as root).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq && apt-get install -y -qq busybox-static runc crun bubblewrap umoci skopeo >/dev/null
python3 -m pip install -q "$repo[test]"
cd "$repo/bench"
exec "$(dirname "$(python3 -c 'import sys; print(sys.executable)')")/pytest" -p no:cacheprovider \
    --benchmark-only --benchmark-columns=min,median,mean,max,rounds --benchmark-sort=name "$@" .
