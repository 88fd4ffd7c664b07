"""Fault injection for the crash tests: FASTCTR_CRASH_AT=NAME makes the
command SIGKILL itself at the point called NAME, as a user's kill -9 or a
farm's job timeout could.  One environment look-up where it is unset."""
import os


def crash_point(name):
    if os.environ.get("FASTCTR_CRASH_AT") == name:
        import signal
        os.kill(os.getpid(), signal.SIGKILL)
