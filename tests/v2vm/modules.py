"""modules.py MODDIR NAME... -> the .ko paths (relative to MODDIR) of NAME and
everything it needs, dependencies first.  The kernel package ships no
modules.dep (depmod makes it at install time), so the dependencies are read
from each module's own .modinfo ("depends=a,b")."""
import os
import sys

moddir, wanted = sys.argv[1], sys.argv[2:]
by_name = {}
for dirpath, _, files in os.walk(moddir):
    for f in files:
        if f.endswith(".ko"):
            by_name[f[:-3].replace("-", "_")] = os.path.relpath(os.path.join(dirpath, f), moddir)


def depends(path):
    with open(os.path.join(moddir, path), "rb") as f:
        data = f.read()
    at = data.find(b"\0depends=")
    if at < 0:
        return []
    value = data[at + len(b"\0depends="):data.index(b"\0", at + 1)].decode()
    return [d.replace("-", "_") for d in value.split(",") if d]


order, seen = [], set()


def visit(name):
    if name in seen:
        return
    seen.add(name)
    if name not in by_name:
        sys.exit(f"modules.py: no module {name} in {moddir}")
    for d in depends(by_name[name]):
        visit(d)
    order.append(by_name[name])


for name in wanted:
    visit(name)
print("\n".join(order))
