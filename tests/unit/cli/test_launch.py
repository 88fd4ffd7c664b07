"""fastctr.launch.leave: the launchers' way out keeps what sys.exit() does
(the status, buffered output, atexit callbacks) while skipping the
interpreter's finalization."""
import subprocess
import sys

import pytest


def leave(body):
    code = "import sys; from fastctr.launch import leave\n" + body
    return subprocess.run([sys.executable, "-S", "-c", f"import sys; sys.path[:0] = {sys.path!r}\n" + code],
                          capture_output=True, text=True)


@pytest.mark.parametrize("status, code", [(None, 0), (0, 0), (1, 1), (125, 125), (256 + 3, 3), (True, 1)])
def test_status_is_the_exit_code(status, code):
    assert leave(f"leave({status!r})").returncode == code


def test_buffered_output_is_written():
    p = leave("print('out', end=''); print('err', end='', file=sys.stderr); leave(0)")
    assert (p.stdout, p.stderr, p.returncode) == ("out", "err", 0)


def test_a_message_goes_to_stderr_with_status_1():
    p = leave("leave('fastctr: gone')")
    assert (p.stderr, p.returncode) == ("fastctr: gone\n", 1)


def test_atexit_callbacks_still_run():
    p = leave("import atexit; atexit.register(lambda: print('at exit')); leave(4)")
    assert (p.stdout, p.returncode) == ("at exit\n", 4)


def test_threads_still_get_joined():
    p = leave("import threading, time\n"
              "threading.Thread(target=lambda: (time.sleep(0.2), print('thread done'))).start()\n"
              "leave(5)")
    assert (p.stdout, p.returncode) == ("thread done\n", 5)


def test_finalization_is_skipped_when_safe():
    # An object whose destructor would print at interpreter shutdown: it does not run.
    p = leave("class Late:\n    def __del__(self): print('finalized')\nkeep = Late()\nleave(0)")
    assert (p.stdout, p.returncode) == ("", 0)


def test_run_imports_the_cli_and_collects_again_in_main(tmp_path):
    (tmp_path / "somecli.py").write_text(
        "import gc\n"
        "loaded_with_gc = gc.isenabled()\n"
        "def main():\n"
        "    print(loaded_with_gc, gc.isenabled(), gc.get_freeze_count() > 0)\n"
        "    return 7\n")
    p = leave(f"sys.path.insert(0, {str(tmp_path)!r}); from fastctr.launch import run; run('somecli')")
    assert (p.stdout, p.returncode) == ("False True True\n", 7)
