"""Bridge networking, run entirely inside network namespaces the test makes
itself (`unshare --net`): the machine's own namespace is never touched."""
import os
import shutil
import subprocess
import sys

import pytest

import imagetools as it

CLI = os.path.join(os.path.dirname(sys.executable), "fastctr")
RUNC = os.path.join(os.path.dirname(sys.executable), "fastctr-runc")
pytestmark = pytest.mark.skipif(not shutil.which("nft") or not shutil.which("unshare") or not shutil.which("ip"),
                                reason="needs nft, unshare and ip")


def in_netns(world, script, timeout=120):
    """Run script in a new network (and mount) namespace playing the host."""
    prelude = f"""
        set -eu
        ip link set lo up
        # `ip netns add` below stays in this mount namespace, never on the host's /run/netns
        mkdir -p /run/netns && mount -t tmpfs -o size=1m netns /run/netns
        export FASTCTR_CGROUP_PARENT=self FASTCTR_DEFAULT_NETWORK=bridge FASTCTR_NETD_IDLE=20
        trap '{sys.executable} -c "from fastctr.net import netd; netd.stop()"' EXIT
        F="{CLI} --data-root {world}/data --state-root {world}/state"
        R="{RUNC} --root {world}/state"
        $F load -i {world}/layout >/dev/null
    """
    p = subprocess.run(["unshare", "--net", "--mount", "sh", "-c", prelude + script], capture_output=True,
                       text=True, timeout=timeout)
    return p


def test_containers_reach_each_other_by_name_and_everything_is_cleaned(world):
    p = in_netns(world, """
        $F network create --subnet 10.88.0.0/24 appnet >/dev/null
        $F run --rm --network appnet --name web bb:1 busybox httpd -f -p 8080 -h /etc &
        WEBCLI=$!
        for i in $(seq 1 200); do
            $F network inspect appnet | grep -q '"10.88.0.2/24"' && break; sleep 0.05; done
        sleep 0.2
        echo "by-name: $($F run --rm --network appnet --name client bb:1 busybox wget -qO- http://web:8080/hostname)"
        echo "hosts: $($F run --rm --network appnet bb:1 cat /etc/hosts | grep -c web)"
        WEB=$($F inspect --format '{{.Id}}' web)
        $R kill "$WEB" KILL
        wait $WEBCLI || true
        echo "endpoints: $($F network inspect appnet | grep -c '"Containers": {}' || true)"
        $F network rm appnet >/dev/null
        echo "links: $(ip -br link | grep -v '^lo ' | wc -l)"
        echo "tables: $(nft list tables | wc -l)"
        echo "containers: $($F ps -a -q | wc -l)"
    """)
    assert p.returncode == 0, p.stderr
    out = dict(line.split(": ", 1) for line in p.stdout.splitlines() if ": " in line)
    assert len(out["by-name"].strip()) == 12  # web's hostname, fetched by its name
    assert out["hosts"] == "1"
    assert out["endpoints"] == "1"  # no endpoint left: addresses released
    assert (out["links"], out["tables"], out["containers"]) == ("0", "0", "0")


def test_default_network_is_the_bridge_with_address_route_and_files(world):
    p = in_netns(world, """
        $F run --rm bb:1 sh -c 'busybox ip -4 -o addr show eth0; busybox ip route | grep default;
            busybox ping -c1 -W2 172.17.0.1 >/dev/null && echo gateway-ok; cat /etc/resolv.conf'
        echo "bridge: $(ip -br link | grep -c fastctr0)"
        echo "tables: $(nft list tables | wc -l)"
    """)
    assert p.returncode == 0, p.stderr
    assert "172.17.0.2/16" in p.stdout and "default via 172.17.0.1" in p.stdout and "gateway-ok" in p.stdout
    assert "nameserver 127." not in p.stdout and "nameserver" in p.stdout
    assert "bridge: 1" in p.stdout and "tables: 1" in p.stdout  # stays, as docker0 and its rules do


def test_bad_network_input_leaves_nothing(world):
    p = in_netns(world, """
        $F network create --subnet 10.90.0.0/24 one >/dev/null
        for args in "--subnet 10.90.0.128/25 two" "--subnet nonsense three" "--gateway 10.1.1.1 four" "one"; do
            if $F network create $args 2>>/tmp/err-$$; then echo "accepted: $args"; fi
        done
        $F run --rm --network nosuchnet bb:1 true 2>>/tmp/err-$$ || echo "run-refused: $?"
        cat /tmp/err-$$; rm -f /tmp/err-$$
        echo "networks: $($F network ls -q --filter type=custom | wc -l)"
        echo "links: $(ip -br link | grep -v '^lo ' | wc -l)"
        $F network rm one >/dev/null
        echo "after: $(ip -br link | grep -v '^lo ' | wc -l) $(nft list tables | wc -l)"
    """)
    assert p.returncode == 0, p.stderr
    assert "accepted" not in p.stdout
    assert "run-refused: 125" in p.stdout
    assert "overlaps" in p.stdout and "invalid subnet" in p.stdout and "needs --subnet" in p.stdout
    assert "already exists" in p.stdout and "not found" in p.stdout
    assert "networks: 1" in p.stdout and "links: 1" in p.stdout and "after: 0 0" in p.stdout


OUTSIDE = """
        # An "outside machine": another namespace behind a veth, 192.0.2.2,
        # reaching this "host" at 192.0.2.1.
        ip netns add outside
        ip link add veth-out type veth peer name eth0 netns outside
        ip addr add 192.0.2.1/24 dev veth-out
        ip link set veth-out up
        ip -n outside addr add 192.0.2.2/24 dev eth0
        ip -n outside link set eth0 up
        ip -n outside link set lo up
        ip -n outside route add default via 192.0.2.1
"""


def test_published_ports_nat_and_cleanup(world):
    p = in_netns(world, OUTSIDE + """
        $F run --rm --name web -p 8080:8080 bb:1 busybox httpd -f -p 8080 -h /etc &
        WEBCLI=$!
        for i in $(seq 1 200); do nft list table ip fastctr 2>/dev/null | grep -q 'dport 8080' && break; sleep 0.05; done
        sleep 0.3
        echo "loopback: $(busybox wget -qO- http://127.0.0.1:8080/hostname)"
        echo "own-address: $(busybox wget -qO- http://192.0.2.1:8080/hostname)"
        echo "outside: $(ip netns exec outside busybox wget -qO- http://192.0.2.1:8080/hostname)"
        echo "hairpin: $($F run --rm --network bridge bb:1 busybox wget -qO- http://192.0.2.1:8080/hostname)"
        if $F run --rm -p 8080:80 bb:1 true 2>/dev/null; then echo "taken: accepted"; else echo "taken: $?"; fi
        busybox nc -l -p 8181 >/dev/null &
        LISTENER=$!
        sleep 0.2
        if $F run --rm -p 8181:80 bb:1 true 2>/dev/null; then echo "listened: accepted"; else echo "listened: $?"; fi
        kill $LISTENER
        # outbound: the outside machine sees the host's address, not the container's
        ip netns exec outside busybox httpd -f -vv -p 9090 -h /etc 2>/tmp/httpd-$$.log &
        SERVER=$!
        sleep 0.3
        $F run --rm bb:1 true >/dev/null
        $F run --rm --network bridge bb:1 busybox wget -qO- http://192.0.2.2:9090/hostname >/dev/null
        kill $SERVER
        echo "seen-from: $(grep -o '192\\.0\\.2\\.[0-9]*\\|172\\.17\\.[0-9.]*' /tmp/httpd-$$.log | sort -u | tr '\\n' ' ')"
        rm -f /tmp/httpd-$$.log
        WEB=$($F inspect --format '{{.Id}}' web)
        $R kill "$WEB" KILL
        wait $WEBCLI || true
        echo "rules-left: $(nft list table ip fastctr | grep -c 'dnat to' || true)"
        # The host end of a veth goes with the container's network namespace, which
        # the kernel tears down a moment after its last process (a workqueue).
        others() { ip -br link | grep -v -e '^lo ' -e '^veth-out' -e '^fastctr0 ' | wc -l; }
        for i in $(seq 1 100); do [ "$(others)" = 0 ] && break; sleep 0.05; done
        echo "links: $(others) tables: $(nft list tables | wc -l)"
        ip netns del outside
    """)
    assert p.returncode == 0, p.stderr + p.stdout
    out = dict(line.split(": ", 1) for line in p.stdout.splitlines() if ": " in line)
    hostname = out["loopback"].strip()
    assert len(hostname) == 12
    assert out["own-address"].strip() == out["outside"].strip() == out["hairpin"].strip() == hostname
    assert out["taken"] == "125" and out["listened"] == "125"
    assert out["seen-from"].split() == ["192.0.2.1"]  # masqueraded
    assert out["rules-left"] == "0"
    assert out["links"] == "0 tables: 1"  # the default bridge and its masquerade stay, as docker0's


def test_bad_publish_specs_fail_before_anything_exists(world):
    p = in_netns(world, """
        for spec in 70000:80 abc 8080:80/sctp 1-3:1-2; do
            if $F run --rm -p "$spec" bb:1 true 2>/dev/null; then echo "accepted $spec"; else echo "refused $? $spec"; fi
        done
        if $F run --rm --network none -p 80 bb:1 true 2>/dev/null; then echo "accepted none"; else echo "refused $? none"; fi
        echo "containers: $($F ps -a -q | wc -l) tables: $(nft list tables | wc -l) links: $(ip -br link | grep -vc '^lo ')"
    """)
    assert p.returncode == 0, p.stderr
    assert p.stdout.count("refused 125") == 5 and "accepted" not in p.stdout
    assert "containers: 0 tables: 0 links: 0" in p.stdout


UDP_ECHO = "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('0.0.0.0', 5353))\n" \
           "while True:\n    data, peer = s.recvfrom(100); s.sendto(b'echo:' + data, peer)"
UDP_ASK = "import socket, sys; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)\n" \
          "s.sendto(b'ping', (sys.argv[1], int(sys.argv[2]))); print(s.recvfrom(100)[0].decode())"


@pytest.mark.skipif(not os.path.exists("/usr/bin/python3"), reason="needs the host's /usr/bin/python3 to bind in")
def test_udp_and_publish_all(world):
    # The busybox image has no UDP server: the host's Python is bound in read-only.
    binds = "-v /usr:/usr:ro -v /usr/lib:/lib:ro -v /usr/lib64:/lib64:ro"
    it.write_oci_layout(os.path.join(world, "exposed"), [it.busybox_layer()], ref_name="exposed:1",
                        ExposedPorts={"8080/tcp": {}})
    p = in_netns(world, f"""
        $F run --rm --name udp -p 127.0.0.1:5454:5353/udp {binds} bb:1 /usr/bin/python3 -c "{UDP_ECHO}" &
        UDPCLI=$!
        for i in $(seq 1 200); do nft list table ip fastctr 2>/dev/null | grep -q 'udp dport 5454' && break; sleep 0.05; done
        sleep 0.5
        echo "udp: $(/usr/bin/python3 -c "{UDP_ASK}" 127.0.0.1 5454)"
        $R kill "$($F inspect --format '{{{{.Id}}}}' udp)" KILL
        wait $UDPCLI || true
        $F load -i {world}/exposed >/dev/null
        $F run --rm --name exp -P exposed:1 busybox httpd -f -p 8080 -h /etc &
        EXPCLI=$!
        for i in $(seq 1 200); do nft list table ip fastctr 2>/dev/null | grep -q 'dnat to 172.17.0.[0-9]*:8080' && break; sleep 0.05; done
        PORT=$(nft list table ip fastctr | grep 'dnat to 172.17.0.[0-9]*:8080' | head -1 | awk '{{for (i = 1; i < NF; i++) if ($i == "dport") print $(i + 1)}}')
        sleep 0.3
        echo "published-all: $PORT $(busybox wget -qO- http://127.0.0.1:$PORT/hostname | wc -c)"
        $R kill "$($F inspect --format '{{{{.Id}}}}' exp)" KILL
        wait $EXPCLI || true
    """)
    assert p.returncode == 0, p.stderr
    assert "udp: echo:ping" in p.stdout
    port, size = p.stdout.split("published-all: ")[1].split()[:2]
    assert int(port) > 1024 and size == "13"  # a free host port chose by the kernel; a 12-char hostname + newline


def test_network_connect_and_disconnect(world):
    p = in_netns(world, """
        $F network create --subnet 10.91.0.0/24 first >/dev/null
        $F network create --subnet 10.92.0.0/24 second >/dev/null
        $F run --rm --network first --name box bb:1 sleep 30 &
        BOXCLI=$!
        for i in $(seq 1 200); do $F network inspect first | grep -q '"10.91.0.2/24"' && break; sleep 0.05; done
        $F network connect second box
        BOX=$($F inspect --format '{{.Id}}' box)
        PID=$($R state "$BOX" | grep '"pid"' | tr -dc 0-9)
        echo "connected: $(nsenter -t $PID -n ip -4 -o addr show | awk '{print $2, $4}' | tr '\\n' ' ')"
        $F network connect second box 2>/dev/null || echo "again: $?"
        $F network disconnect second box
        echo "disconnected: $(nsenter -t $PID -n ip -4 -o addr show | awk '{print $2}' | tr '\\n' ' ')"
        $F network connect second box
        $R kill "$BOX" KILL
        wait $BOXCLI || true
        echo "left: $($F network inspect second | grep -c '"Containers": {}') $($F network inspect first | grep -c '"Containers": {}')"
        $F network rm first second >/dev/null
        echo "links: $(ip -br link | grep -vc '^lo ') tables: $(nft list tables | wc -l)"
    """)
    assert p.returncode == 0, p.stderr
    out = dict(line.split(": ", 1) for line in p.stdout.splitlines() if ": " in line)
    assert out["connected"].split() == ["lo", "127.0.0.1/8", "eth0", "10.91.0.2/24", "eth1", "10.92.0.2/24"]
    assert out["again"] == "1"  # Docker's CLI: 1 outside run/create/exec
    assert out["disconnected"].split() == ["lo", "eth0"]
    assert out["left"] == "1 1"  # the address of a network connected later is released at exit too
    assert out["links"] == "0 tables: 0"


NETD = f"{sys.executable} -c 'from fastctr.net import netd; print(\"stopped\", netd.stop())'"


def test_network_helper_is_per_namespace_serves_only_its_uid_and_exits(world):
    """netd keeps pyroute2 imported for the next start: one per network
    namespace, started by the first network operation, gone when idle."""
    p = in_netns(world, f"""
        export FASTCTR_NETD_IDLE=1
        $F run --rm bb:1 true
        {sys.executable} -c '
import os
from fastctr.net import netd  # imported as root: /root is not readable by nobody
from fastctr import jsonfast
os.setgroups([]); os.setgid(65534); os.setuid(65534)
try:
    netd.call("delete_bridge", net={{"bridge": "fastctr0", "name": "bridge"}})
except Exception as e:
    print("nobody:", e)
'
        echo "bridge: $(ip -br link | grep -c fastctr0)"
        sleep 2.5
        {NETD}
        $F network create again >/dev/null
        {NETD}
    """)
    assert p.returncode == 0, p.stderr
    assert "nobody: permission denied" in p.stdout
    assert "bridge: 1" in p.stdout
    assert "stopped False" in p.stdout  # the idle helper had exited by itself
    assert "stopped True" in p.stdout  # `network create` started another, stopped on request


def test_without_nftables_the_default_bridge_works_and_publishing_fails_cleanly(world):
    """A fresh machine without nft still runs `fastctr run`; -p says why not."""
    p = in_netns(world, """
        export PATH=/usr/bin:/bin  # nft lives in /usr/sbin
        $F run --rm bb:1 sh -c 'busybox ip -4 -o addr show eth0' 2>/tmp/warn-$$
        grep -c "nft not found" /tmp/warn-$$ | sed 's/^/warned: /'; rm -f /tmp/warn-$$
        $F run --rm -p 8080:80 bb:1 true 2>&1 || echo "refused: $?"
        echo "containers: $($F ps -a -q | wc -l)"
        echo "links: $(ip -br link | grep -v -e '^lo ' -e '^fastctr0 ' | wc -l)"
        echo "tables: $(/usr/sbin/nft list tables | wc -l)"
    """)
    assert p.returncode == 0, p.stderr
    assert "172.17.0.2/16" in p.stdout and "warned: 1" in p.stdout
    assert "publishing ports needs nftables: nft not found" in p.stdout and "refused: 125" in p.stdout
    assert "containers: 0" in p.stdout and "links: 0" in p.stdout and "tables: 0" in p.stdout


def test_hundred_detached_bridge_containers_leave_no_veth_rule_or_process(world):
    p = in_netns(world, f"""
        for i in $(seq 1 100); do
            P=""; [ $i -le 20 ] && P="-p 127.0.0.1:$((9000 + i)):80"
            $F run -d $P bb:1 sh -c "trap 'exit 0' TERM; while :; do sleep 1; done" >/dev/null
        done
        echo "running: $($F ps -q | wc -l) veths: $(ip -o link show type veth | wc -l)" \
             "dnat: $(nft list table ip fastctr | grep -c 'dnat to')"
        $F stop -t 5 $($F ps -q) >/dev/null
        $F rm $($F ps -a -q) >/dev/null
        for i in $(seq 1 100); do [ "$(ip -o link show type veth | wc -l)" = 0 ] && break; sleep 0.05; done
        echo "after: $($F ps -a -q | wc -l) veths: $(ip -o link show type veth | wc -l)" \
             "dnat: $(nft list table ip fastctr 2>/dev/null | grep -c 'dnat to' || true)" \
             "monitors: $(ps -eo args | grep -c '^[^ ]*fastctr/data/monitor .*{world}' || true)"
    """, timeout=300)
    assert p.returncode == 0, p.stderr
    assert "running: 100 veths: 100 dnat: 40" in p.stdout, p.stdout  # prerouting and output
    assert "after: 0 veths: 0 dnat: 0 monitors: 0" in p.stdout, p.stdout


def test_veths_go_with_the_namespace_and_a_joined_one_loses_its_owners(world):
    """The kernel removes a container's veth with its network namespace; when
    another container joined that namespace (--network container:), it lives
    on, and the owner's exit must take the veth (Docker's endpoint) away."""
    p = in_netns(world, """
        settled() { for i in $(seq 1 100); do [ "$(ip -o link show type veth | wc -l)" = "$1" ] && break; sleep 0.05; done
                    ip -o link show type veth | wc -l; }
        $F run --rm bb:1 true
        echo "after-run: $(settled 0)"
        $F run -d --name owner bb:1 sleep 60 >/dev/null
        $F run -d --name joiner --network container:owner bb:1 sleep 60 >/dev/null
        echo "joined: $(settled 1) $($F exec joiner busybox ip -o link | grep -c eth0)"
        $F rm -f owner >/dev/null
        echo "owner-gone: $(settled 0) $($F exec joiner busybox ip -o link | grep -c eth0 || true)"
        $F rm -f joiner >/dev/null
    """)
    assert p.returncode == 0, p.stderr
    out = dict(line.split(": ", 1) for line in p.stdout.splitlines() if ": " in line)
    assert out["after-run"] == "0"
    assert out["joined"] == "1 1"
    assert out["owner-gone"] == "0 0"
