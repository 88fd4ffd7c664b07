"""run/create's network flags against real containers, each test in a network
and mount namespace of its own (test_network.in_netns), where the "host's"
/etc/resolv.conf and /etc/hosts are files the test binds over the real ones."""
from test_network import in_netns

HOST_FILES = """
        printf 'nameserver 127.0.0.53\\nnameserver 10.1.2.3\\nsearch corp.example\\noptions edns0\\n' >/tmp/resolv-$$
        printf '127.0.0.1\\tlocalhost\\n10.9.9.9\\thost-only-name\\n' >/tmp/hosts-$$
        mount --bind /tmp/resolv-$$ /etc/resolv.conf
        mount --bind /tmp/hosts-$$ /etc/hosts
        printf 'nameserver 127.0.0.1\\nnameserver ::1\\n' >/tmp/loopback-$$
"""
DOCKER_DEFAULTS = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback", "fe00::0\tip6-localnet",
                   "ff00::0\tip6-mcastprefix", "ff02::1\tip6-allnodes", "ff02::2\tip6-allrouters"]


def sections(stdout):
    """`== NAME` headers, each followed by its lines."""
    out, current = {}, None
    for line in stdout.splitlines():
        if line.startswith("== "):
            current = out.setdefault(line[3:], [])
        elif current is not None:
            current.append(line)
    return out


def test_resolv_conf_in_every_container_as_docker_makes_it(world):
    p = in_netns(world, HOST_FILES + """
        echo "== none"; $F run --rm --network none bb:1 cat /etc/resolv.conf
        echo "== bridge"; $F run --rm bb:1 cat /etc/resolv.conf
        echo "== host"; $F run --rm --network host bb:1 cat /etc/resolv.conf
        echo "== flags"; $F run --rm --dns 192.0.2.53 --dns 192.0.2.54 --dns-search a.example --dns-search b.example \\
            --dns-option ndots:2 --dns-option timeout:1 bb:1 cat /etc/resolv.conf
        echo "== search-only"; $F run --rm --network none --dns-search only.example bb:1 cat /etc/resolv.conf
        echo "== no-search"; $F run --rm --dns-search . bb:1 cat /etc/resolv.conf
        $F network create user >/dev/null
        echo "== user"; $F run --rm --network user bb:1 cat /etc/resolv.conf
        echo "== exec"; $F run -d --name box --dns 192.0.2.99 bb:1 sleep 30 >/dev/null
        $F exec box cat /etc/resolv.conf
        $F rm -f box >/dev/null
        mount --bind /tmp/loopback-$$ /etc/resolv.conf
        echo "== loopback-only"; $F run --rm --network none bb:1 cat /etc/resolv.conf
        $F network rm user >/dev/null
    """)
    assert p.returncode == 0, p.stderr
    s = sections(p.stdout)
    filtered = ["nameserver 10.1.2.3", "search corp.example", "options edns0"]  # 127.0.0.53 left out
    assert s["none"] == s["bridge"] == s["user"] == filtered
    assert s["host"] == ["nameserver 127.0.0.53"] + filtered  # the host's own resolver is reachable there
    assert s["flags"] == ["search a.example b.example", "nameserver 192.0.2.53", "nameserver 192.0.2.54",
                          "options ndots:2 timeout:1"]
    assert s["search-only"] == ["search only.example", "nameserver 10.1.2.3", "options edns0"]
    assert s["no-search"] == ["nameserver 10.1.2.3", "options edns0"]  # `.`: no search line
    assert s["loopback-only"] == ["nameserver 8.8.8.8", "nameserver 8.8.4.4"]
    assert s["exec"] == ["search corp.example", "nameserver 192.0.2.99", "options edns0"]


def test_add_host_lines_and_host_gateway(world):
    p = in_netns(world, HOST_FILES + """
        FLAGS="--add-host db:192.0.2.10 --add-host cache=192.0.2.11 --add-host six:[2001:db8::1] --add-host gw:host-gateway"
        echo "== bridge"; $F run --rm --hostname box $FLAGS bb:1 cat /etc/hosts
        echo "== none"; $F run --rm --network none $FLAGS bb:1 cat /etc/hosts
        echo "== host"; $F run --rm --network host --add-host db:192.0.2.10 bb:1 cat /etc/hosts
        echo "== gateway"; ip -4 -o addr show fastctr0 | awk '{print $4}'
    """)
    assert p.returncode == 0, p.stderr
    s = sections(p.stdout)
    gateway = s["gateway"][0].split("/")[0]
    added = ["192.0.2.10\tdb", "192.0.2.11\tcache", "2001:db8::1\tsix", f"{gateway}\tgw"]
    assert s["bridge"][:-1] == DOCKER_DEFAULTS + added
    own_address, own_names = s["bridge"][-1].split("\t")
    assert own_address.startswith(gateway.rsplit(".", 1)[0]) and own_names.split()[0] == "box"
    assert s["none"][:-1] == DOCKER_DEFAULTS + added
    assert s["none"][-1].startswith("127.0.1.1\t")  # no address: its names on 127.0.1.1 (Docker gives no line)
    assert s["host"] == ["127.0.0.1\tlocalhost", "10.9.9.9\thost-only-name", "192.0.2.10\tdb"]


def test_ip_mac_address_and_network_alias_on_a_user_network(world):
    p = in_netns(world, """
        $F network create --subnet 10.61.0.0/24 app >/dev/null
        $F run -d --name web --network app --ip 10.61.0.77 --mac-address 02:aa:bb:cc:dd:ee \\
            --network-alias www --net-alias api bb:1 busybox httpd -f -p 8080 -h /etc >/dev/null
        echo "== web"; $F exec web sh -c 'busybox ip -4 -o addr show eth0 | busybox awk "{print \\$4}";
            cat /sys/class/net/eth0/address'
        echo "== client"; $F run --rm --network app bb:1 sh -c 'cat /sys/class/net/eth0/address;
            busybox ip -4 -o addr show eth0 | busybox awk "{print \\$4}";
            for n in web www api; do busybox wget -qO- http://$n:8080/hostname; done; grep www /etc/hosts'
        echo "== bridge-mac"; $F run --rm bb:1 cat /sys/class/net/eth0/address
        $F rm -f web >/dev/null
        $F network rm app >/dev/null
    """)
    assert p.returncode == 0, p.stderr
    s = sections(p.stdout)
    assert s["web"] == ["10.61.0.77/24", "02:aa:bb:cc:dd:ee"]
    mac, address, *rest = s["client"]
    assert address == "10.61.0.2/24" and mac == "02:42:0a:3d:00:02"  # Docker's MAC: 02:42 and the address
    hostname = rest[0]
    assert len(hostname) == 12 and rest[:3] == [hostname] * 3  # web, by its name and both aliases
    assert rest[3] == "10.61.0.77\tweb www api"
    assert s["bridge-mac"] == ["02:42:ac:11:00:02"]


def test_bad_network_flags_leave_nothing_behind(world):
    p = in_netns(world, """
        $F network create --subnet 10.62.0.0/24 app >/dev/null
        $F network create auto >/dev/null
        $F run -d --name holder --network app --ip 10.62.0.10 bb:1 sleep 30 >/dev/null
        for args in "--ip 10.62.0.9" "--network app --ip 10.63.0.9" "--network app --ip 10.62.0.10" \\
                    "--network app --ip 10.62.0.1" "--network app --ip nonsense" "--network auto --ip 172.18.0.9" \\
                    "--network-alias x" "--network none --network-alias x" "--add-host nonsense" \\
                    "--add-host a:not-an-ip" "--add-host :1.2.3.4" "--dns 1.2.3" "--dns-search bad_domain!" \\
                    "--mac-address 01:00:5e:00:00:01" "--mac-address 02:00:00:00:00" "--network none --mac-address 02:00:00:00:00:01" \\
                    "--network host --mac-address 02:00:00:00:00:01" "--expose 80:80" "--expose 70000" "--expose 80/icmp" \\
                    "--network container:holder --dns 192.0.2.1" "--network container:holder --add-host a:1.2.3.4"; do
            I=$((${I:-0} + 1))
            if $F run --rm -p 8080:80 $args bb:1 true 2>>/tmp/err-$$; then echo "accepted: $args"; fi
            $F create $args bb:1 true >/dev/null 2>>/tmp/err-$$ && echo "created: $args"
        done
        echo "tried: $I"
        echo "errors: $(sort -u /tmp/err-$$ | wc -l) lines: $(wc -l </tmp/err-$$)"
        cat /tmp/err-$$; rm -f /tmp/err-$$
        echo "containers: $($F ps -a -q | wc -l)"
        echo "veths: $(ip -o link show type veth | wc -l)"
        echo "dnat: $(nft list table ip fastctr 2>/dev/null | grep -c 'dnat to' || true)"
        echo "next-address: $($F run --rm --network app bb:1 busybox ip -4 -o addr show eth0 | awk '{print $4}')"
        $F rm -f holder >/dev/null
        $F network rm app auto >/dev/null
    """)
    assert p.returncode == 0, p.stderr
    assert "accepted" not in p.stdout and "created" not in p.stdout, p.stdout
    lines = dict(line.split(": ", 1) for line in p.stdout.splitlines() if ": " in line and line[0].isalpha())
    assert lines["tried"] == "22"
    assert p.stdout.count("fastctr: ") == 44  # one line each
    assert "user specified IP address is supported on user defined networks only" in p.stdout
    assert "no configured subnet or ip-range contain the IP address 10.63.0.9" in p.stdout
    assert "already in use" in p.stdout and "user configured subnets" in p.stdout
    assert "network-scoped alias is supported only for containers in user defined networks" in p.stdout
    assert 'bad format for add-host: "nonsense"' in p.stdout and "is not a valid mac address" in p.stdout
    assert "conflicting options: mac-address and the network mode" in p.stdout
    assert "conflicting options: dns and the network mode" in p.stdout
    assert lines["containers"] == "1" and lines["veths"] == "1"  # the holder's only
    assert lines["dnat"] == "0"
    assert lines["next-address"] == "10.62.0.2/24"  # no refused run kept an address


def test_expose_is_published_by_publish_all_and_port_shows_it(world):
    p = in_netns(world, """
        $F run -d --name exp --expose 9090 --expose 7000-7001/udp -P -p 9999:9191 bb:1 \\
            busybox httpd -f -p 9090 -h /etc >/dev/null
        echo "== ports"; $F port exp
        PORT=$($F port exp 9090 | cut -d: -f2)
        sleep 0.3
        echo "== fetched"; busybox wget -qO- http://127.0.0.1:$PORT/hostname | wc -c
        echo "== only-exposed"; $F run -d --name quiet --expose 9090 bb:1 sleep 30 >/dev/null; $F port quiet | wc -l
        $F rm -f exp quiet >/dev/null
    """)
    assert p.returncode == 0, p.stderr
    s = sections(p.stdout)
    ports = [line.split(" -> ") for line in s["ports"]]
    assert [private for private, _ in ports] == ["7000/udp", "7001/udp", "9090/tcp", "9191/tcp"]
    assert dict(ports)["9191/tcp"] == "0.0.0.0:9999"
    assert all(public.startswith("0.0.0.0:") for _, public in ports)
    assert s["fetched"] == ["13"]  # web's 12-character hostname and a newline, through the published port
    assert s["only-exposed"] == ["0"]  # exposing alone publishes nothing


def test_network_connect_with_alias_and_ip(world):
    p = in_netns(world, """
        $F network create --subnet 10.64.0.0/24 back >/dev/null
        $F run -d --name db bb:1 busybox httpd -f -p 8080 -h /etc >/dev/null
        $F network connect --ip 10.65.0.9 back db 2>&1 && echo "refused-ip: accepted" || echo "refused-ip: $?"
        echo "veths-after-refusal: $(ip -o link show type veth | wc -l)"
        $F network connect --alias database --alias store --ip 10.64.0.40 back db
        $F network connect --alias x bridge db 2>&1 || echo "bridge-alias: $?"
        echo "== db"; $F exec db busybox ip -4 -o addr show eth1 | awk '{print $4}'
        echo "== peer"; $F run --rm --network back bb:1 sh -c 'grep database /etc/hosts;
            busybox wget -qO- http://store:8080/hostname | wc -c'
        $F network connect --link db back db 2>/dev/null || echo "link: $?"
        $F network disconnect back db
        echo "== after"; $F run --rm --network back bb:1 sh -c 'grep -c database /etc/hosts || true'
        $F rm -f db >/dev/null
        $F network rm back >/dev/null
    """)
    assert p.returncode == 0, p.stderr
    s = sections(p.stdout)
    out = dict(line.split(": ", 1) for line in p.stdout.splitlines() if ": " in line and not line.startswith("=="))
    assert out["refused-ip"] == "1" and "no configured subnet or ip-range contain the IP address 10.65.0.9" in p.stdout
    assert out["veths-after-refusal"] == "1"  # db's eth0 only
    assert "network-scoped alias is supported only for containers in user defined networks" in p.stdout
    assert out["bridge-alias"] == "1" and out["link"] == "125"
    assert s["db"] == ["10.64.0.40/24"]
    assert s["peer"][:2] == ["10.64.0.40\tdb database store", "13"]
    assert s["after"] == ["0"]
