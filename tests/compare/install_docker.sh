#!/usr/bin/env bash
# Debian's docker.io (dockerd 20.10, containerd, runc) for side_by_side.py,
# installed without starting its service: a policy-rc.d that denies every
# start, for the install only, as tests/run.sh does.  side_by_side.py starts
# dockerd itself, in a private network and mount namespace.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v docker-registry >/dev/null || need+=(docker-registry)
command -v busybox >/dev/null || need+=(busybox-static)
[ ${#need[@]} -eq 0 ] && exit 0
policy=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
    policy=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy"
fi
trap '[ -z "$policy" ] || rm -f "$policy"' EXIT
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
