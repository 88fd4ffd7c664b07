import pytest

from fastctr.errors import ConfigError
from fastctr.net.ports import PortMapping, check_conflicts, exposed_ports, parse_publish


@pytest.mark.parametrize("spec, want", [
    ("8080:80", [("", 8080, 80, "tcp")]),
    ("127.0.0.1:8080:80", [("127.0.0.1", 8080, 80, "tcp")]),
    ("8080:80/udp", [("", 8080, 80, "udp")]),
    ("80", [("", 0, 80, "tcp")]),
    ("127.0.0.1::80", [("127.0.0.1", 0, 80, "tcp")]),
    ("8000-8002:80-82", [("", 8000, 80, "tcp"), ("", 8001, 81, "tcp"), ("", 8002, 82, "tcp")]),
    ("53:53/udp", [("", 53, 53, "udp")]),
])
def test_parse_publish(spec, want):
    assert [m.key() for m in parse_publish(spec)] == want


@pytest.mark.parametrize("spec, message", [
    ("", "invalid port"), ("abc:80", "invalid port"), ("8080:0", "out of range"),
    ("70000:80", "out of range"), ("8080:80/sctp", "invalid protocol"), ("1:2:3:4", "invalid -p"),
    ("999.1.1.1:80:80", "invalid host address"), ("8000-8001:80", "differ in length"),
    ("90-80:90-80", "invalid port range"),
])
def test_bad_publish_specs(spec, message):
    with pytest.raises(ConfigError, match=message):
        parse_publish(spec)


def test_exposed_ports_and_conflicts():
    cfg = {"config": {"ExposedPorts": {"80/tcp": {}, "53/udp": {}}}}
    assert [m.key() for m in exposed_ports(cfg)] == [("", 0, 53, "udp"), ("", 0, 80, "tcp")]
    check_conflicts(parse_publish("8080:80") + parse_publish("8080:80/udp"))
    with pytest.raises(ConfigError, match="published twice"):
        check_conflicts(parse_publish("8080:80") + parse_publish("127.0.0.1:8080:81"))
    check_conflicts([PortMapping("127.0.0.1", 8080, 80, "tcp"), PortMapping("10.0.0.1", 8080, 80, "tcp")])
