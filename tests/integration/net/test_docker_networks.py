"""Docker's network objects and commands, beside a dockerd: the predefined
bridge/host/none, subnets that avoid what the host uses, `network ls|create|
rm|prune`, `port`, and publishing a port in TIME_WAIT.  Every test runs in a
network namespace of its own (see test_network.in_netns)."""
import sys

from test_network import OUTSIDE, in_netns


def _out(p):
    assert p.returncode == 0, p.stderr + p.stdout
    return dict(line.split(": ", 1) for line in p.stdout.splitlines() if ": " in line)


def test_bridge_and_new_networks_avoid_subnets_the_host_uses(world):
    """As on a host where dockerd runs: docker0 holds 172.17.0.0/16 (an
    address), something routes 172.19.0.0/16."""
    out = _out(in_netns(world, """
        ip link add used0 type veth peer name used1
        ip link set used0 up
        ip addr add 172.17.0.1/16 dev used0
        ip route add 172.19.0.0/16 dev used0
        echo "bridge: $($F run --rm bb:1 busybox ip -4 -o addr show eth0 | awk '{print $4}')"
        $F network create auto >/dev/null
        echo "auto: $($F network inspect -f '{{range .IPAM.Config}}{{.Subnet}}{{end}}' auto)"
        $F network create --subnet 10.77.0.0/24 given >/dev/null
        $F network create after >/dev/null
        echo "after: $($F network inspect -f '{{range .IPAM.Config}}{{.Subnet}}{{end}}' after)"
        echo "routes: $(ip -4 route | grep -c '^172.17.0.0/16')"
        $F network rm auto given after >/dev/null
    """))
    assert out["bridge"] == "172.18.0.2/16"  # 172.17 is taken by the host's address
    assert out["auto"] == "172.20.0.0/16"  # 172.19 is routed elsewhere
    assert out["after"] == "172.21.0.0/16"  # and other networks' subnets are skipped
    assert out["routes"] == "1"  # only the host's own: nothing shadows it


TIME_WAIT = """
import socket, sys
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", 8181))
server.listen()
client = socket.create_connection(("127.0.0.1", 8181))
conn, _ = server.accept()
conn.close()  # the server's end closes first: port 8181 goes to TIME_WAIT
client.recv(1)
client.close()
server.close()
plain = socket.socket()
try:
    plain.bind(("0.0.0.0", 8181))
    print("plain-bind: free")
except OSError as e:
    print("plain-bind:", e.errno)
"""


def test_a_port_in_time_wait_can_be_published(world):
    out = _out(in_netns(world, f"""
        cat >/tmp/tw-$$.py <<'EOF'
{TIME_WAIT}
EOF
        {sys.executable} /tmp/tw-$$.py; rm -f /tmp/tw-$$.py
        echo "time-wait: $(ss -Htan state time-wait '( sport = :8181 )' | wc -l)"
        $F run --rm -p 8181:80 bb:1 true && echo "published: yes"
        busybox nc -l -p 8282 >/dev/null &
        LISTENER=$!
        sleep 0.2
        if $F run --rm -p 8282:80 bb:1 true 2>/dev/null; then echo "listened: accepted"; else echo "listened: $?"; fi
        kill $LISTENER
    """))
    assert out["plain-bind"] == "98"  # EADDRINUSE without SO_REUSEADDR: the test has a TIME_WAIT
    assert out["time-wait"] == "1"
    assert out["published"] == "yes"
    assert out["listened"] == "125"  # a listener still holds its port


def test_predefined_networks_are_listed_and_cannot_be_removed(world):
    p = in_netns(world, """
        $F network ls
        $F network create --label team=web --label tier front >/dev/null
        echo "ids: $($F network ls -q | wc -l) $($F network ls -q --no-trunc | awk '{print length($0)}' | sort -u)"
        echo "names: $($F network ls --format '{{.Name}}/{{.Driver}}' | tr '\\n' ' ')"
        echo "filtered: $($F network ls -f driver=null -f driver=host --format '{{.Name}}' | tr '\\n' ' ')"
        echo "by-name: $($F network ls --filter name=ro --format '{{.Name}}' | tr '\\n' ' ')"
        echo "custom: $($F network ls --filter type=custom --filter label=team=web --format '{{.Name}}')"
        BRIDGE=$($F network ls -q --filter name=bridge)
        echo "by-id: $($F network ls --filter id=$BRIDGE --format '{{.Name}}')"
        $F network ls --format 'table {{.Name}}\\t{{.Scope}}' | head -1 | sed 's/^/header: /'
        for n in bridge host none $BRIDGE; do $F network rm $n 2>&1 && echo "rm-$n: 0" || echo "rm-$n: $?"; done
        $F network create host 2>&1 || echo "create-host: $?"
        $F network ls --filter nosuch=1 2>&1 || echo "bad-filter: $?"
        echo "before-use: $(ip -br link | grep -c fastctr0 || true)"
        $F network rm front >/dev/null
    """)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0] == "NETWORK ID     NAME      DRIVER    SCOPE"
    for row, (name, driver) in zip(lines[1:4], [("bridge", "bridge"), ("host", "host"), ("none", "null")]):
        assert row.split() == [row[:12], name, driver, "local"] and len(row.split()[0]) == 12
    out = _out(p)
    assert out["ids"] == "4 64"
    assert out["names"].split() == ["bridge/bridge", "front/bridge", "host/host", "none/null"]
    assert out["filtered"].split() == ["host", "none"]
    assert out["by-name"].split() == ["front"]
    assert out["custom"] == "front" and out["by-id"] == "bridge"
    assert out["header"].split() == ["NAME", "SCOPE"]
    for name in ("bridge", "host", "none"):
        assert f"{name} is a pre-defined network and cannot be removed" in p.stdout
        assert out[f"rm-{name}"] == "1"
    assert [v for k, v in out.items() if k.startswith("rm-")][-1] == "1"  # by its ID too
    assert "network with name host already exists" in p.stdout and out["create-host"] == "1"
    assert out["bad-filter"] == "125"
    assert out["before-use"] == "0"  # listing the bridge does not make it


def test_network_create_flags_internal_ip_range_bridge_name_and_prune(world):
    out = _out(in_netns(world, OUTSIDE + """
        $F network create --internal --subnet 10.66.0.0/24 --ip-range 10.66.0.64/26 \\
            -o com.docker.network.bridge.name=inner0 inner >/dev/null
        echo "bridge-name: $(ip -br link | grep -c '^inner0 ')"
        $F run --rm --network inner bb:1 sh -c 'busybox ip -4 -o addr show eth0 | busybox awk "{print \\"addr: \\" \\$4}";
            busybox ping -c1 -W1 10.66.0.1 >/dev/null && echo "gateway: ok";
            busybox ping -c1 -W1 192.0.2.2 >/dev/null && echo "outside: reached" || echo "outside: blocked"'
        $F run --rm bb:1 sh -c 'busybox ping -c1 -W2 192.0.2.2 >/dev/null && echo "bridge-outside: reached"'
        for args in "-d macvlan x" "--ipv6 x" "--aux-address a=10.1.1.1 x" "-o com.docker.network.mtu=1400 x" \\
                    "--subnet 10.1.0.0/24 --ip-range 10.2.0.0/26 x" "--ip-range 10.2.0.0/26 x" \\
                    "-o com.docker.network.bridge.name=inner0 x"; do
            I=$((${I:-0} + 1)); $F network create $args >/dev/null 2>&1 || echo "refused-$I: $?"
        done
        $F network create unused >/dev/null
        echo "prune: $($F network prune -f | tr '\\n' ' ')"
        echo "left: $($F network ls --format '{{.Name}}' | tr '\\n' ' ')"
        echo "links: $(ip -br link | grep -c -e '^inner0 ' -e '^fctr-' || true)"
        ip netns del outside
    """))
    assert out["bridge-name"] == "1"
    assert out["addr"] == "10.66.0.64/24"  # the first of --ip-range (all of it, as Docker), the mask of --subnet
    assert out["gateway"] == "ok" and out["outside"] == "blocked"  # internal: nothing beyond the bridge
    assert out["bridge-outside"] == "reached"
    refused = {k: v for k, v in out.items() if k.startswith("refused-")}
    # flags fastctr cannot honour: 125; what the engine refuses (ranges, a bridge name in use): 1
    assert list(refused.values()) == ["125", "125", "125", "125", "1", "1", "1"], refused
    assert out["prune"].split() == ["Deleted", "Networks:", "inner", "unused"]
    assert out["left"].split() == ["bridge", "host", "none"] and out["links"] == "0"


def test_port_prints_published_ports_as_docker(world):
    out = _out(in_netns(world, """
        $F run -d --name web -p 8080:80 -p 127.0.0.1:5353:53/udp -p 9:9 bb:1 sleep 30 >/dev/null
        echo "all: $($F port web | tr '\\n' ',')"
        echo "one: $($F port web 80)"
        echo "udp: $($F port web 53/udp)"
        $F port web 81 2>&1 | sed 's/^/missing: /'
        $F port web 81 >/dev/null 2>&1 || echo "missing-rc: $?"
        $F port web 53 >/dev/null 2>&1 || echo "tcp-not-udp: $?"
        $F port nosuch >/dev/null 2>&1 || echo "nosuch: $?"
        $F stop -t 1 web >/dev/null
        $F port web 80 >/dev/null 2>&1 || echo "stopped: $?"
        echo "stopped-all: $($F port web | wc -l)"
        $F rm web >/dev/null
    """))
    assert out["all"] == "9/tcp -> 0.0.0.0:9,53/udp -> 127.0.0.1:5353,80/tcp -> 0.0.0.0:8080,"
    assert out["one"] == "0.0.0.0:8080" and out["udp"] == "127.0.0.1:5353"
    assert out["missing"].endswith("Error: No public port '81' published for web")
    assert out["missing-rc"] == "1" and out["tcp-not-udp"] == "1" and out["nosuch"] == "1"
    assert out["stopped"] == "1" and out["stopped-all"] == "0"  # as Docker: nothing is published while stopped
