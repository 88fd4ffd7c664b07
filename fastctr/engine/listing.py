"""Every container with its live status, for `ps`, `stats`, `info` and the
network and prune listings: what a `fastctr ps` costs grows with the number
of containers, so per container it reads as little as there is to read.

One query brings all rows (not one query per container); a container the
store records as running costs the runtime's status of it (its state file,
/proc/PID/stat, its freezer state, a stat of the exec fifo); nothing is
spawned or signalled.  Exited, created and dead containers cost no read at
all, except the exit record of one whose clean-up is still pending."""
from fastctr import jsonfast as json

KEYS = ("id", "name", "image_id", "driver", "created", "config", "status", "exit_code", "started", "finished",
        "labels")
ACTIVE = ("running", "paused", "restarting")
_QUERY = f"SELECT {', '.join(KEYS)} FROM containers ORDER BY created DESC, rowid DESC"


def containers(engine, all=False):
    """Newest first, as Docker lists them: the running, paused and
    restarting ones, or (all) every one."""
    runtime = engine.runtime  # one for every row: the property makes a new one each time
    out = []
    for values in engine.store.db.execute(_QUERY).fetchall():
        c = dict(zip(KEYS, values))
        c["config"] = json.loads(c["config"]) if c["config"] else {}
        c["labels"] = json.loads(c["labels"]) if c["labels"] else {}
        c["status"] = engine.live_status(c, runtime)
        if c["status"] == "exited" and (c["exit_code"] is None or c["finished"] is None):
            engine._fill_from_exit_record(c)  # the monitor's clean-up is still pending
        if c["status"] == "running" and c["config"].get("healthcheck"):
            from fastctr.engine.health import ps_suffix
            c["health"] = ps_suffix(engine, c)  # ps: (healthy), (health: starting)
        if all or c["status"] in ACTIVE:
            out.append(c)
    return out
