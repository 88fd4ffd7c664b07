"""The nftables rules of fastctr: one table, `ip fastctr`, replaced whole.

render() turns the networks and the published ports into one nft script
that creates-or-empties the table and fills it again, so `nft -f -` applies
it in one kernel transaction: no moment with half the rules, and nothing of
fastctr left once the table is deleted.

  prerouting  DNAT of published ports arriving for a local address
  output      the same for connections made on the host itself (127.0.0.1)
  postrouting masquerade of traffic leaving a bridge subnet; of DNATed
              loopback traffic (so replies come back); of hairpin traffic
              (a container reaching a published port of its own bridge)
  forward     DNATed traffic and the bridges' own traffic accepted; an
              internal network's traffic to or from elsewhere dropped
No userland proxy process is needed for any port."""

TABLE = "fastctr"


def _dnat_rule(m, verdict):
    match = f"ip daddr {m['host_ip']} " if m.get("host_ip") else ""
    return (f"{match}fib daddr type local {m['proto']} dport {m['host_port']} "
            f"{verdict} dnat to {m['container_ip']}:{m['container_port']}").replace("  ", " ")


def render(networks, mappings):
    """networks: [{"bridge", "subnet"}]; mappings: [{"host_ip", "host_port",
    "proto", "container_ip", "container_port"}] -> nft script text."""
    pre = [_dnat_rule(m, "counter") for m in mappings]
    out = [_dnat_rule(m, "counter") for m in mappings]
    post, fwd = [], []
    for n in networks:  # an internal network reaches nothing beyond its bridge (Docker's --internal)
        if n.get("internal"):
            fwd += [f'iifname "{n["bridge"]}" oifname != "{n["bridge"]}" drop',
                    f'oifname "{n["bridge"]}" iifname != "{n["bridge"]}" drop']
    fwd += ["ct state established,related accept", "ct status dnat accept"]
    for n in networks:
        bridge, subnet = n["bridge"], n["subnet"]
        if n.get("internal"):
            continue
        post.append(f'ip saddr {subnet} oifname != "{bridge}" counter masquerade')
        post.append(f'oifname "{bridge}" ip saddr 127.0.0.0/8 counter masquerade')
        post.append(f'oifname "{bridge}" ip saddr {subnet} ct status dnat counter masquerade')
        fwd.append(f'iifname "{bridge}" accept')
    lines = [f"table ip {TABLE} {{}}", f"delete table ip {TABLE}", f"table ip {TABLE} {{"]
    for name, hook, prio, kind, rules in (
            ("prerouting", "prerouting", "dstnat", "nat", pre),
            ("output", "output", "-100", "nat", out),
            ("postrouting", "postrouting", "srcnat", "nat", post),
            ("forward", "forward", "filter", "filter", fwd)):
        lines.append(f"  chain {name} {{")
        lines.append(f"    type {kind} hook {hook} priority {prio}; policy accept;")
        lines += [f"    {r}" for r in rules]
        lines.append("  }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def render_delete():
    """The script that removes everything fastctr put in nftables."""
    return f"table ip {TABLE} {{}}\ndelete table ip {TABLE}\n"


def apply(script, nft="nft"):
    """Load a script atomically; a one-line NetworkError on failure."""
    import subprocess
    from fastctr.net.ipam import NetworkError
    p = subprocess.run([nft, "-f", "-"], input=script, capture_output=True, text=True)
    if p.returncode != 0:
        first = (p.stderr.strip().splitlines() or ["nft failed"])[0]
        raise NetworkError(f"nftables: {first}")
