"""The network flags' parsers and the files they make (no root needed)."""
import pytest

from fastctr.engine import netflags
from fastctr.engine.options import DOCKER_HOSTS
from fastctr.errors import ConfigError
from fastctr.net.network import hosts_text

HOST = "# comment\nnameserver 127.0.0.53\nnameserver 10.0.0.2\nnameserver ::1\nsearch a.example b.example\n" \
       "options edns0\n"


@pytest.mark.parametrize("value, want", [
    ("db:192.0.2.1", ("db", "192.0.2.1")), ("db=192.0.2.1", ("db", "192.0.2.1")),
    ("six:::1", ("six", "::1")), ("six=[2001:db8::1]", ("six", "2001:db8::1")), ("six:[::1]", ("six", "::1")),
    ("gw:host-gateway", ("gw", "host-gateway")),
])
def test_add_host_forms(value, want):
    assert netflags.parse_add_host(value) == want


@pytest.mark.parametrize("value, message", [
    ("nonsense", 'bad format for add-host: "nonsense"'), (":1.2.3.4", "bad format"), ("a:b=1.2.3.4", "bad format"),
    ("a:", 'invalid IP address in add-host: ""'), ("a:1.2.3", "invalid IP address"),
])
def test_bad_add_host(value, message):
    with pytest.raises(ConfigError, match=f'^invalid argument "{value}" for "--add-host" flag: .*{message}'):
        netflags.parse_add_host(value)


def test_resolv_conf_as_libnetwork_builds_it():
    filtered = "# comment\nnameserver 10.0.0.2\nsearch a.example b.example\noptions edns0\n"
    assert netflags.resolv_conf(HOST) == filtered
    assert netflags.resolv_conf(HOST, keep_loopback=True) == HOST
    assert netflags.resolv_conf("nameserver 127.0.0.1\n") == "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"
    assert netflags.resolv_conf("") == "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"
    assert netflags.resolv_conf(HOST, dns=["192.0.2.1"]) == \
        "search a.example b.example\nnameserver 192.0.2.1\noptions edns0\n"
    assert netflags.resolv_conf(HOST, search=["."], options=["ndots:3"]) == "nameserver 10.0.0.2\noptions ndots:3\n"
    assert netflags.resolv_conf(HOST, dns=["127.0.0.1"]) == \
        "search a.example b.example\nnameserver 127.0.0.1\noptions edns0\n"  # given: used as given


def test_hosts_text_order():
    text = hosts_text(DOCKER_HOSTS, ["db:192.0.2.1", "six:::1"], ("10.0.0.5", ["box.example", "box"]),
                               [("10.0.0.6", ["web", "www"])])
    assert text.splitlines()[-4:] == ["192.0.2.1\tdb", "::1\tsix", "10.0.0.5\tbox.example box", "10.0.0.6\tweb www"]
    assert text.startswith("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\n")


def test_expose_mac_and_dns_search():
    assert netflags.parse_expose(["80", "53/UDP", "7000-7002/tcp"]) == \
        ["80/tcp", "53/udp", "7000/tcp", "7001/tcp", "7002/tcp"]
    for bad in ("80:80", "0", "70000", "9-8", "80/icmp", "x"):
        with pytest.raises(ConfigError, match="--expose"):
            netflags.parse_expose([bad])
    assert netflags.parse_mac("02-AA-bb-CC-dd-EE") == "02:aa:bb:cc:dd:ee"
    for bad in ("02:aa:bb:cc:dd", "zz:aa:bb:cc:dd:ee", "01:00:5e:00:00:01", "02:aa-bb:cc:dd:ee"):
        with pytest.raises(ConfigError, match="--mac-address"):
            netflags.parse_mac(bad)
    assert netflags.parse_dns_search("example.com.") == "example.com."
    for bad in ("a b", "-a.example", "a..b", "x" * 256):
        with pytest.raises(ConfigError, match="is not a valid domain"):
            netflags.parse_dns_search(bad)
