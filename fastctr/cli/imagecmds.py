"""`fastctr` commands that move images between hosts: save, push, login,
logout (and `image save|push`).
Imported (through fastctr.cli.objects) only for them."""
import sys

from fastctr.cli.common import _engine, nargs, parse
from fastctr.cliargs import UsageError
from fastctr.errors import FastctrError  # Docker's CLI exits 1 for these, 125 for flag errors


def cmd_save(g, args):
    o, pos = parse(args, {"-o": ("output", True), "--output": ("output", True), "--format": ("format", True),
                          "--platform": ("platform", True)})
    nargs(pos, 1)
    if o.get("platform"):
        raise UsageError("save --platform is not supported: fastctr stores one platform per image")
    from fastctr.image import saving
    fmt = o.get("format") or "docker-archive"
    if fmt not in saving.FORMATS:
        raise UsageError(f"save --format must be docker-archive or oci-archive, not {fmt!r}")
    store = _engine(g).store
    if o.get("output"):
        saving.save_to_file(store, pos, o["output"], fmt)
    elif sys.stdout.isatty():
        raise FastctrError("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    else:
        sys.stdout.flush()
        saving.save(store, pos, sys.stdout.buffer, fmt)
        sys.stdout.buffer.flush()
    from fastctr import events
    for image_id, _ in saving.selected(store, pos):  # moby: one save event per image, by its ID
        events.image(store.root, image_id, "save")


def cmd_push(g, args):
    o, pos = parse(args, {"-q": ("quiet", False), "--quiet": ("quiet", False),
                          "-a": ("all_tags", False), "--all-tags": ("all_tags", False)})
    nargs(pos, 1, 1)
    from fastctr.image import progress, push, reference
    engine = _engine(g)
    if o.get("all_tags"):
        repo = reference.parse_normalized(pos[0])
        if repo.tag or repo.digest:
            raise FastctrError("tag can't be used with --all-tags/-a")
        names = [n for n, _ in engine.store.names() if "@" not in n and n.rsplit(":", 1)[0] == repo.familiar_name]
        if not names:
            raise FastctrError(f"An image does not exist locally with the tag: {repo.familiar_name}")
    else:
        names = [pos[0]]
    for name in names:
        push.push(engine.store, name, report=progress.PushReport(sys.stdout, quiet=bool(o.get("quiet"))))
        from fastctr import events
        ref = reference.parse_normalized(name).with_default_tag()
        events.image(engine.store.root, ref.familiar(), "push", ref.familiar_name)
    if o.get("quiet"):
        print(reference.parse_normalized(pos[0]).with_default_tag() if not o.get("all_tags") else
              reference.parse_normalized(pos[0]))


def cmd_login(g, args):
    o, pos = parse(args, {"-u": ("user", True), "--username": ("user", True),
                          "-p": ("password", True), "--password": ("password", True),
                          "--password-stdin": ("password_stdin", False)})
    nargs(pos, 0, 1)
    from fastctr.image import credentials, push
    server = pos[0] if pos else credentials.DOCKER_HUB_KEY
    user, password = o.get("user"), o.get("password")
    if o.get("password_stdin"):
        if password:
            raise FastctrError("--password and --password-stdin are mutually exclusive")
        if not user:
            raise FastctrError("Must provide --username with --password-stdin")
        password = sys.stdin.read().rstrip("\r\n")
    elif password:
        print("WARNING! Using --password via the CLI is insecure. Use --password-stdin.", file=sys.stderr)
    if not user or not password:
        user, password = _prompt(user, password, server)
    push.login(server, user, password)
    credentials.save(server, user, password)
    print(f"WARNING! Your credentials are stored unencrypted in '{credentials.config_path()}'.", file=sys.stderr)
    print("Login Succeeded")


def _prompt(user, password, server):
    if not sys.stdin.isatty():
        raise FastctrError("Cannot perform an interactive login from a non TTY device")
    if not user:
        user = input("Username: ").strip()
    if not password:
        import getpass
        password = getpass.getpass("Password: ")
    if not user:
        raise FastctrError("Username is required")
    if not password:
        raise FastctrError("Error: Password Required")
    return user, password


def cmd_logout(g, args):
    _, pos = parse(args, {})
    nargs(pos, 0, 1)
    from fastctr.image import credentials
    server = pos[0] if pos else credentials.DOCKER_HUB_KEY
    key = credentials.server_key(server)
    if not credentials.erase(server):
        print(f"Not logged in to {key}")
        return
    print(f"Removing login credentials for {key}")


def cmd_image_push(g, args):
    return cmd_push(g, args)


def cmd_image_save(g, args):
    return cmd_save(g, args)


COMMANDS = {name[4:]: fn for name, fn in globals().items() if name.startswith("cmd_")}
