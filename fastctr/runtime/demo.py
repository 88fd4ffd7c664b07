"""python -m fastctr.runtime.demo: run a command in a busybox container.

The main job until images land: builds a bundle in a temporary directory,
runs the command through the runtime API (all namespaces, a cgroup of its
own), prints what the container saw and removes everything again."""
import os
import sys
import tempfile

from fastctr.runtime.bundle import make_bundle
from fastctr.runtime.lifecycle import Runtime

SCRIPT = ('echo "hello from fastctr: pid $$ in $(hostname)";'
          ' echo "processes visible:"; ps -o pid,args')


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = argv or ["sh", "-c", SCRIPT]
    with tempfile.TemporaryDirectory(prefix="fastctr-demo-") as tmp:
        os.chmod(tmp, 0o755)
        make_bundle(os.path.join(tmp, "bundle"), args=args)
        rt = Runtime(root=os.path.join(tmp, "state"))
        return rt.run(f"demo-{os.getpid()}", os.path.join(tmp, "bundle"))


if __name__ == "__main__":
    sys.exit(main())
