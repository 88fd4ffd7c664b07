"""The nftables script is accepted by the kernel and does what it says, in a
network namespace the test makes itself (never the machine's own)."""
import shutil
import subprocess

import pytest

from fastctr.net import nat

pytestmark = pytest.mark.skipif(not shutil.which("nft") or not shutil.which("unshare"),
                                reason="needs nft (Debian nftables) and unshare")

NETWORKS = [{"bridge": "fastctr0", "subnet": "172.17.0.0/16"}, {"bridge": "fctr-abc", "subnet": "172.18.0.0/16"}]
MAPPINGS = [{"host_ip": "", "host_port": 8080, "proto": "tcp", "container_ip": "172.17.0.2", "container_port": 80},
            {"host_ip": "127.0.0.1", "host_port": 5353, "proto": "udp", "container_ip": "172.18.0.3",
             "container_port": 53}]


def in_private_netns(script):
    """Run a shell script inside a fresh network namespace; return its output."""
    p = subprocess.run(["unshare", "--net", "sh", "-ec", script], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return p.stdout


def test_ruleset_loads_atomically_and_deletes_cleanly():
    ruleset = nat.render(NETWORKS, MAPPINGS)
    out = in_private_netns(f"""
        nft -f - <<'EOF'
{ruleset}EOF
        nft -f - <<'EOF'
{ruleset}EOF
        nft list table ip fastctr
        echo ---
        nft -f - <<'EOF'
{nat.render_delete()}EOF
        nft list tables
        echo end
    """)
    listing, _, rest = out.partition("---")
    assert "dnat to 172.17.0.2:80" in listing and "udp dport 5353" in listing
    assert 'ip saddr 172.18.0.0/16 oifname != "fctr-abc"' in listing and "masquerade" in listing
    assert listing.count("chain prerouting") == 1  # applied twice, present once: replaced, not appended
    assert rest.strip() == "end"  # nothing of fastctr left


def test_empty_ruleset_and_bad_rules():
    in_private_netns(f"nft -f - <<'EOF'\n{nat.render([], [])}EOF\n")
    bad = nat.render(NETWORKS, [dict(MAPPINGS[0], container_ip="not-an-ip")])
    p = subprocess.run(["unshare", "--net", "nft", "-c", "-f", "-"], input=bad, capture_output=True, text=True)
    assert p.returncode != 0
