"""The Docker-like command line (`fastctr`): thin commands over fastctr.engine
(commands), the Go-template subset of --format (template) and `stats`
tables (stats).  `from fastctr.cli import main` still gives the entry point."""


def __getattr__(name):
    if name == "main":
        from fastctr.cli.commands import main
        return main
    raise AttributeError(f"module 'fastctr.cli' has no attribute {name!r}")
