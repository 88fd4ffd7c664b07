"""IPAM against a real SQLite store (no root, no network changes)."""
import multiprocessing

import pytest

from fastctr.net.ipam import Ipam, NetworkError
from fastctr.image.store import Store


@pytest.fixture
def ipam(tmp_path):
    store = Store(str(tmp_path / "data"))
    yield Ipam(store)
    store.close()


def test_default_and_user_networks(ipam):
    default = ipam.create_network("bridge")
    assert (default["subnet"], default["gateway"], default["bridge"]) == ("172.17.0.0/16", "172.17.0.1", "fastctr0")
    user = ipam.create_network("app")
    assert user["subnet"] == "172.18.0.0/16" and user["bridge"].startswith("fctr-") and len(user["bridge"]) <= 15
    custom = ipam.create_network("custom", subnet="10.99.0.0/24", gateway="10.99.0.254")
    assert custom["gateway"] == "10.99.0.254"
    assert [n["name"] for n in ipam.networks()] == ["app", "bridge", "custom"]
    assert ipam.network(user["id"][:12])["name"] == "app"
    with pytest.raises(NetworkError, match="not found"):
        ipam.network("nonexistent")
    with pytest.raises(NetworkError, match="ambiguous|not found"):
        ipam.network("")


@pytest.mark.parametrize("kw, message", [
    ({"subnet": "172.17.5.0/24"}, "overlaps"),
    ({"subnet": "10.0.0.1/24"}, "invalid subnet"),
    ({"subnet": "not-a-net"}, "invalid subnet"),
    ({"subnet": "10.5.0.0/31"}, "too small"),
    ({"subnet": "10.6.0.0/24", "gateway": "10.7.0.1"}, "not a host address"),
    ({"gateway": "10.7.0.1"}, "needs --subnet"),
])
def test_bad_networks_refused(ipam, kw, message):
    ipam.create_network("bridge")
    with pytest.raises(NetworkError, match=message):
        ipam.create_network("bad", **kw)
    assert [n["name"] for n in ipam.networks()] == ["bridge"]


def test_allocate_release_full_and_in_use(ipam):
    ipam.create_network("small", subnet="10.1.0.0/29")  # hosts .1-.6, gateway .1
    got = [ipam.allocate("small", f"c{i}") for i in range(5)]
    assert got == ["10.1.0.2", "10.1.0.3", "10.1.0.4", "10.1.0.5", "10.1.0.6"]
    assert ipam.allocate("small", "c0") == "10.1.0.2"  # idempotent
    with pytest.raises(NetworkError, match="is full"):
        ipam.allocate("small", "c5")
    with pytest.raises(NetworkError, match="active endpoints"):
        ipam.remove_network("small")
    ipam.release("small", "c2")
    assert ipam.allocate("small", "c9") == "10.1.0.4"  # freed address reused
    with pytest.raises(NetworkError, match="already in use"):
        ipam.allocate("small", "c10", address="10.1.0.4")
    for i in (0, 1, 3, 4, 9):
        ipam.release_all(f"c{i}")
    ipam.remove_network("small")
    with pytest.raises(NetworkError, match="not found"):
        ipam.network("small")


def test_bridge_port_limit(ipam, monkeypatch):
    import fastctr.net.ipam as mod
    monkeypatch.setattr(mod, "BRIDGE_MAX_PORTS", 3)
    ipam.create_network("wide", subnet="10.2.0.0/24")
    for i in range(3):
        ipam.allocate("wide", f"c{i}")
    with pytest.raises(NetworkError, match="at most 3 ports"):
        ipam.allocate("wide", "c3")


def _allocate_many(root, start, n, queue):
    store = Store(root)
    ipam = Ipam(store)
    queue.put([ipam.allocate("busy", f"p{start + i}") for i in range(n)])
    store.close()


def test_concurrent_allocations_never_collide(tmp_path):
    root = str(tmp_path / "data")
    store = Store(root)
    Ipam(store).create_network("busy", subnet="10.3.0.0/24")
    queue = multiprocessing.get_context("fork").Queue()
    procs = [multiprocessing.get_context("fork").Process(target=_allocate_many, args=(root, i * 5, 5, queue))
             for i in range(10)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    addresses = [a for r in results for a in r]
    assert len(addresses) == 50 and len(set(addresses)) == 50
    assert len(Ipam(store).network("busy")["endpoints"]) == 50
    store.close()


def test_auto_subnets_avoid_the_hosts_subnets_and_each_other(ipam):
    """Docker's default pools, minus what the host's addresses and routes use."""
    bridge = ipam.create_network("bridge", avoid=["172.17.0.1/16", "172.19.5.0/24"])
    assert bridge["subnet"] == "172.18.0.0/16"
    assert ipam.create_network("a", avoid=["172.17.0.1/16", "172.19.5.0/24"])["subnet"] == "172.20.0.0/16"
    assert ipam.create_network("b", avoid=[f"172.{n}.0.0/16" for n in range(17, 32)])["subnet"] == "192.168.0.0/20"
    assert ipam.create_network("c", subnet="172.17.0.0/24")["subnet"] == "172.17.0.0/24"  # given: the user's choice


def test_predefined_networks_exist_before_use_and_cannot_be_removed(ipam):
    before = {n["name"]: n for n in ipam.listing()}
    assert [(n, before[n]["driver"]) for n in sorted(before)] == [("bridge", "bridge"), ("host", "host"),
                                                                 ("none", "null")]
    assert ipam.network("host")["id"] == before["host"]["id"] == ipam.network(before["host"]["id"][:12])["id"]
    made = ipam.create_network("bridge")
    assert made["id"] == before["bridge"]["id"]  # the ID `network ls` showed before the bridge was made
    for name in ("bridge", "host", "none"):
        with pytest.raises(NetworkError, match=f"^{name} is a pre-defined network and cannot be removed$"):
            ipam.remove_network(name)
    assert [n["name"] for n in ipam.networks()] == ["bridge"]  # host and none are no bridges


def test_ip_range_internal_and_bridge_name(ipam):
    net = ipam.create_network("r", subnet="10.3.0.0/24", ip_range="10.3.0.128/30", internal=True, bridge="br-r")
    assert (net["internal"], net["ip_range"], net["bridge"], net["configured"]) == (True, "10.3.0.128/30", "br-r", True)
    assert [ipam.allocate("r", f"c{i}") for i in range(4)] == ["10.3.0.128", "10.3.0.129", "10.3.0.130", "10.3.0.131"]
    with pytest.raises(NetworkError, match="is full"):
        ipam.allocate("r", "c4")
    with pytest.raises(NetworkError, match="not within"):
        ipam.create_network("s", subnet="10.4.0.0/24", ip_range="10.5.0.0/26")
    with pytest.raises(NetworkError, match="used by another network"):
        ipam.create_network("t", subnet="10.6.0.0/24", bridge="br-r")
    assert not ipam.create_network("u")["configured"]


def test_a_network_made_before_the_bridge_leaves_it_docker0s_subnet(ipam):
    assert ipam.create_network("early")["subnet"] == "172.18.0.0/16"
    assert ipam.create_network("bridge")["subnet"] == "172.17.0.0/16"
    assert ipam.create_network("later", avoid=["172.19.0.0/16"])["subnet"] == "172.20.0.0/16"
