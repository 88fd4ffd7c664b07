#!/usr/bin/env bash
# Install everything the tests need, then run them.  As root on a real
# kernel the integration tests run real containers; .ci/run calls this.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
export DEBIAN_FRONTEND=noninteractive
# busybox-static: the root filesystems of test containers; skopeo, umoci,
# buildah and docker-registry: images made by other tools and a registry on
# loopback; nftables: the NAT rules, checked in a private network namespace;
# runc and containerd: fastctr-runc answers as runc does, under containerd's
# shim (containerd runs in a private network namespace and starts no service).
need=()
command -v busybox >/dev/null || need+=(busybox-static)
command -v skopeo >/dev/null || need+=(skopeo)
command -v umoci >/dev/null || need+=(umoci)
command -v docker-registry >/dev/null || need+=(docker-registry)
command -v buildah >/dev/null || need+=(buildah)
command -v nft >/dev/null || need+=(nftables)
command -v runc >/dev/null || need+=(runc)
# crun and bubblewrap: reference runtimes of `fastctr bench` (tests/integration/bench).
command -v crun >/dev/null || need+=(crun)
command -v bwrap >/dev/null || need+=(bubblewrap)
command -v containerd >/dev/null || need+=(containerd)
if [ ${#need[@]} -gt 0 ]; then
    # Packages must not start services (docker-registry would listen on :5000
    # on every address): a policy-rc.d that denies them, for the install only.
    policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        policy=/usr/sbin/policy-rc.d
        printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy"
    fi
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    [ -z "$policy" ] || rm -f "$policy"
fi
python3 -m pip install -q "$repo[test]"
cd "$repo"
# The pytest script, not `python -m pytest`: the source tree must not shadow
# the installed package (it has the compiled extension).  pytest exits 5 when
# it collects nothing, which fails this script as it should.
pytest="$(dirname "$(python3 -c 'import sys; print(sys.executable)')")/pytest"
"$pytest" -p no:cacheprovider tests "$@"
# The integration suite again, every `fastctr` command through a running
# `fastctr serve` (tests/integration/conftest.py checks it is used and that it
# outlives the run).  FASTCTR_SERVER_PASS=0 leaves it out.
if [ "${FASTCTR_SERVER_PASS:-1}" != 0 ] && [ $# -eq 0 ]; then
    bash tests/server_pass.sh "$pytest"
fi
# The pure cgroup v2 lane: tests/integration/v2 (skipped above on a v1 or
# hybrid host) in a VM booted with cgroup_no_v1=all, built from Debian
# packages.  FASTCTR_V2_LANE=0 leaves it out.
if [ "${FASTCTR_V2_LANE:-1}" != 0 ] && [ $# -eq 0 ] && \
        [ ! -e /sys/fs/cgroup/cgroup.controllers -o -e /sys/fs/cgroup/unified ]; then
    bash tests/v2vm/build.sh
    bash tests/v2vm/run.sh --timeout 1200 "$pytest" -p no:cacheprovider tests/integration/v2
fi
