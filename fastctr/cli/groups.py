"""Docker's management commands (`container ls`, `image rm`, `system df`...):
for each group, its subcommands and the `cmd_` handler each runs.  A
handler that is not registered yet (see commands.HANDLER_MODULES) makes the
subcommand unknown, so a new command only has to define `cmd_NAME`.
Imported only when a group word is the command."""

DESCRIPTIONS = {"builder": "Manage builds", "container": "Manage containers", "image": "Manage images", "network": "Manage networks",
                "system": "Manage fastctr", "volume": "Manage volumes"}

GROUPS = {
    "container": {
        "attach": "attach", "commit": "commit", "cp": "cp", "create": "create", "diff": "diff", "exec": "exec",
        "export": "export", "inspect": "container_inspect", "kill": "kill", "logs": "logs", "ls": "ps",
        "list": "ps", "ps": "ps", "pause": "pause", "port": "port", "prune": "container_prune",
        "rename": "rename", "restart": "restart", "rm": "rm", "remove": "rm", "run": "run", "start": "start",
        "stats": "stats", "stop": "stop", "top": "top", "unpause": "unpause", "update": "update", "wait": "wait",
        "cleanup": "container_cleanup",  # fastctr's own: a monitor calls it when the process has exited
    },
    "builder": {"build": "build", "prune": "builder_prune"},
    "image": {
        "build": "build", "history": "history", "import": "import", "inspect": "image_inspect", "load": "load", "ls": "images",
        "list": "images", "prune": "image_prune", "pull": "pull", "push": "push", "rm": "rmi", "remove": "rmi",
        "save": "save", "tag": "tag",
    },
    "system": {"df": "system_df", "events": "events", "info": "info", "prune": "system_prune"},
    "network": {
        "connect": "network_connect", "create": "network_create", "disconnect": "network_disconnect",
        "inspect": "network_inspect", "ls": "network_ls", "list": "network_ls", "prune": "network_prune",
        "rm": "network_rm", "remove": "network_rm",
    },
    "volume": {
        "create": "volume_create", "inspect": "volume_inspect", "ls": "volume_ls", "list": "volume_ls",
        "prune": "volume_prune", "rm": "volume_rm", "remove": "volume_rm",
    },
}
HIDDEN = {"cleanup"}  # not listed in help
ALIASES = {"list", "ps", "remove"}  # second names, listed only among a command's aliases


def aliases(name):
    """Every way of invoking handler `name`: 'container rm', 'rm', ..."""
    found = [f"{group} {sub}" for group, subs in GROUPS.items() for sub, target in subs.items()
             if target == name and sub not in HIDDEN]
    return found
