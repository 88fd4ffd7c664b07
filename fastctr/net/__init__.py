"""Container networking after libnetwork's model: networks and addresses in
the store (ipam), bridges and veths through pyroute2 in a per-namespace
helper (netd, network), NAT and published ports in one nftables table (nat,
ports)."""
