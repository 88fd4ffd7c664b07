"""--restart: Docker's restart policies for containers under a monitor.

fastctr has no daemon, so the restart is done by the process that would
otherwise end the container's life: the monitor's clean-up callback
(`fastctr container cleanup ID`, exec'd by csrc/monitor.c once the
process has exited).  After the clean-up it decides as moby's restart
manager does, records `restarting` (ps: `Restarting (1) 2 seconds ago`)
with itself as the waiter, sleeps the back-off (100 ms doubling up to a
minute, back to 100 ms after a run of 10 s or more) and then starts the
process again in the same container (same writable layer, network
attached again, cgroup made again) through the ordinary start path,
becoming the container's new monitor.  A waiter is a Python process only
while it waits; a running container costs its C monitor alone.

`stop` is final (moby cancels the restart manager); `kill` marks the
container manually stopped, which only `unless-stopped` honours (moby).
A host reboot restarts nothing: Docker's daemon would restart `always`
and `unless-stopped` containers when it starts; fastctr has none."""
import os
import time

from fastctr.cliargs import UsageError

POLICIES = ("no", "always", "unless-stopped", "on-failure")
FIRST_DELAY_MS = 100
MAX_DELAY_MS = 60_000
RESET_AFTER_SECONDS = 10


def parse_policy(value, auto_remove=False):
    """--restart NAME[:N] -> the record's {"Name", "MaximumRetryCount"}, as
    the docker CLI parses it and the daemon validates it."""
    name, colon, count = value.partition(":")
    if colon and not name:
        raise UsageError("invalid restart policy format: no policy provided before colon")
    retries = 0
    if count:
        try:
            retries = int(count)
        except ValueError:
            raise UsageError("invalid restart policy format: maximum retry count must be an integer") from None
    if name not in POLICIES:
        raise UsageError(f"invalid restart policy: unknown policy '{name}'; use one of 'no', 'always', "
                         "'on-failure', or 'unless-stopped'")
    if name != "on-failure" and retries:
        raise UsageError("invalid restart policy: maximum retry count can only be used with 'on-failure'"
                         + (" and cannot be negative" if retries < 0 else ""))
    if retries < 0:
        raise UsageError("invalid restart policy: maximum retry count cannot be negative")
    if auto_remove and name != "no":
        raise UsageError("conflicting options: cannot specify both --restart and --rm")
    return {"Name": name, "MaximumRetryCount": retries}


def should_restart(policy, exit_code, restart_count, stopped):
    """moby's RestartManager.ShouldRestart; `stopped` is how the user ended
    it: "stop" (cancels every policy), "kill" (manually stopped), None."""
    name = (policy or {}).get("Name", "no")
    if stopped == "stop":
        return False
    if name == "always":
        return True
    if name == "unless-stopped":
        return not stopped
    if name == "on-failure":
        limit = policy.get("MaximumRetryCount") or 0
        return exit_code != 0 and (limit == 0 or restart_count < limit)
    return False


def next_delay_ms(previous_ms, ran_seconds):
    if ran_seconds >= RESET_AFTER_SECONDS or not previous_ms:
        return FIRST_DELAY_MS
    return min(previous_ms * 2, MAX_DELAY_MS)


def _seconds(stamp):
    """The store's `2026-12-01T11:00:00Z` -> Unix seconds (0 if unreadable)."""
    import calendar
    try:
        return calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ"))
    except (TypeError, ValueError):
        return 0


def after_exit(engine, cid, delay):
    """In the monitor's clean-up, once decide() said `delay`: wait it, then
    restart the container.  Returns when the wait was cancelled; otherwise
    it does not return (it execs the monitor)."""
    time.sleep(delay / 1000)
    with engine.lock(cid):
        try:
            c = engine._row(cid)
        except LookupError:
            return  # removed meanwhile (rm -f)
        waiter = c["config"].get("starter") or [None]
        if c["status"] != "restarting" or waiter[0] != os.getpid():
            return  # stopped (or started by someone else) while we waited
        engine._set_config(cid, restart_count=(c["config"].get("restart_count") or 0) + 1)
        c = engine._row(cid)
        start = engine.prepare_monitor_start(c)
    start()  # the lock is released: from here the container is running under us


def decide(engine, cid):
    """Under the container's lock, right after the clean-up (so that `ps`
    goes from running to restarting): the back-off in ms when the policy
    restarts it (recorded as restarting, this process its waiter), else None."""
    from fastctr.runtime.state import process_start_time
    try:
        c = engine._row(cid)
    except LookupError:
        return None
    cfg = c["config"]
    record = engine.exit_record(c)
    if c["status"] != "exited" or record is None or engine._runtime_alive(cid):
        return None
    count = cfg.get("restart_count") or 0
    if not should_restart(cfg.get("restart_policy"), record.get("exit_code"), count, cfg.get("manually_stopped")):
        return None
    ran = (record.get("finished_at") or 0) - _seconds(c["started"])
    delay = next_delay_ms(cfg.get("restart_delay_ms"), ran)
    me = os.getpid()
    engine._set_status(cid, "restarting", restart_delay_ms=delay, starter=[me, process_start_time(me)])
    return delay


def cancel(engine, c, how):
    """stop/kill: mark the container as ended by the user ("stop" or
    "kill"); a waiter that would no longer restart it is ended.  Returns
    the row as it is now."""
    with engine.lock(c["id"]):
        c = engine._row(c["id"])
        engine._set_config(c["id"], manually_stopped=how)
        policy = c["config"].get("restart_policy") or {}
        if c["status"] == "restarting" and (how == "stop" or policy.get("Name") == "unless-stopped"):
            end_waiter(engine, c)
        return engine._row(c["id"])


def end_waiter(engine, c):
    """Under the container's lock: end the sleep of a restarting container's
    waiter (it sleeps without the lock, so nothing is half-done) and record
    the container as exited."""
    from fastctr.runtime.state import process_start_time
    waiter = c["config"].get("starter")
    if waiter and process_start_time(waiter[0]) == waiter[1]:
        try:
            os.kill(waiter[0], 9)
        except ProcessLookupError:
            pass
    engine._set_status(c["id"], "exited")
