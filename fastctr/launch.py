"""How the launchers (csrc/launcher.c) run a CLI: run(MODULE) imports it
and leaves with the status of its main(), without the interpreter's
finalization when nothing needs it.

The cyclic garbage collector is off while the modules load, and what they
made is frozen (kept out of every later collection) before main() runs: in
a cold `fastctr run` it spent 1-2 ms scanning the objects of ~50 freshly
imported modules, none of which is ever garbage.  It is on again for main(),
so long-running commands (logs -f, events, bench) collect as usual.

A cold `fastctr run --rm` spent ~8 ms after main() returned: tearing down
every module, and closing the store's SQLite connection, which as the last
one checkpoints the WAL into the database (two fdatasyncs) and deletes it.
Neither is needed: the store runs in autocommit mode, so everything a
command wrote is committed when main() returns, and SQLite finds the WAL
as it was left (a later commit checkpoints it once it reaches 1000
pages).  So the standard streams are flushed and the process exits
directly, unless something asked to run at exit (an atexit callback) or
another thread may still work (threading was imported): then it is
Python's normal exit."""
import gc
import os
import sys


def run(module):
    """Import the CLI `module` ("fastctr.cli.commands") and leave with the
    status its main() returns."""
    gc.disable()
    try:
        main = __import__(module, fromlist=["main"]).main
    finally:
        gc.freeze()
        gc.enable()
    leave(main())


def leave(status):
    """sys.exit(status), the short way when it is safe."""
    if "threading" in sys.modules or _atexit_callbacks():
        sys.exit(status)
    code = exit_code(status)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:  # a closed pipe: Python's own exit reports it as it always has
        sys.exit(status)
    os._exit(code)


def _atexit_callbacks():
    import atexit  # built in: no file to read
    return atexit._ncallbacks()


def exit_code(status):
    """What sys.exit(status) would exit with: None is 0, an int itself,
    anything else is printed to stderr and exits 1."""
    if status is None:
        return 0
    if isinstance(status, int):
        return status & 0xFF
    print(status, file=sys.stderr)
    return 1
