"""fastctr.image.store imports SQLite without functools (the cold start's
largest import): the C module gets the C statement cache it asks for, and
functools stays importable, whole, for everything else."""
import subprocess
import sys


def fresh(code):
    """Run code in a new interpreter (-S, as the launchers start the CLI)."""
    p = subprocess.run([sys.executable, "-S", "-c", f"import sys; sys.path[:0] = {sys.path!r}\n" + code],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return p.stdout.split()


def test_the_store_loads_without_functools_and_its_statement_cache_works(tmp_path):
    out = fresh("from fastctr.image import store\n"
                "print('functools' in sys.modules, 'collections' in sys.modules, 'datetime' in sys.modules)\n"
                f"s = store.Store({str(tmp_path)!r})\n"
                # more distinct statements than the cache holds (128), each run twice
                "rows = [s.db.execute(f'SELECT {i % 300}').fetchone()[0] for i in range(600)]\n"
                "print(rows == [i % 300 for i in range(600)])\n"
                "import functools\n"
                "print(functools.reduce(lambda a, b: a + b, [1, 2, 3]), hasattr(functools, 'partial'))")
    assert out == ["False", "False", "False", "True", "6", "True"]


def test_with_functools_loaded_already_the_plain_module():
    out = fresh("import functools\n"
                "from fastctr.image import store\n"
                "import _sqlite3\n"
                "print(store.sqlite3 is _sqlite3, sys.modules['functools'] is functools)")
    assert out == ["True", "True"]
