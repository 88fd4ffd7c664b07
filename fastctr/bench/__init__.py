"""`fastctr bench`: container start latency across runtimes, side by side.

One image, one command, every runtime that is there (fastctr's Python API
and CLI, fastctr-runc, runc, crun, youki, bubblewrap), rounds interleaved so
the machine's noise hits them alike; a table of min/median/p95/max with each
median as a ratio to fastctr's, the raw samples as JSON, a plot.  Nothing is
left behind, also after Ctrl-C.

stats: the numbers and their table; runtimes: how each one starts a
container; oci: the bundle the OCI runtimes share; runner: the rounds,
spawners, progress and Ctrl-C; command: the whole run; plot: the PNG."""
