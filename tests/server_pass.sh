#!/usr/bin/env bash
# The integration suite with a `fastctr serve` running: every `fastctr`
# command of the tests goes through it (FASTCTR_SOCKET).  Called by
# tests/run.sh with the pytest script; extra arguments go to pytest.
# Tests that run fastctr inside network namespaces of their own reach the
# server too, and their commands start cold there (a worker serves only
# clients in the server's namespaces): nothing of theirs lands in the
# machine's namespace.  The server's own default network is none besides.
set -euo pipefail
pytest=$1; shift
dir=$(mktemp -d /tmp/fastctr-server-pass-XXXXXX)
fastctr="$(dirname "$pytest")/fastctr"
export FASTCTR_SOCKET="$dir/fastctr.sock"
FASTCTR_DEFAULT_NETWORK=none "$fastctr" --state-root "$dir/state" serve --socket "$FASTCTR_SOCKET" 2>"$dir/serve.log" &
server=$!
stop() {
    kill -TERM "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    rm -rf "$dir"
}
trap stop EXIT
for _ in $(seq 200); do [ -S "$FASTCTR_SOCKET" ] && break; sleep 0.05; done
status=0
FASTCTR_SERVER_PID=$server "$pytest" -p no:cacheprovider tests/integration "$@" || status=$?
if ! kill -0 "$server" 2>/dev/null; then
    echo "the fastctr server died during the server pass:" >&2
    cat "$dir/serve.log" >&2
    status=1
fi
exit $status
