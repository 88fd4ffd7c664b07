"""What ps, images, history, info and version print, side by side with
what Docker prints for the same containers and images: the status words,
the columns, the quoting, the JSON keys, the filters and flags."""
import json
import re

AGO = r"(Less than a second|1 second|\d+ seconds|About a minute) ago"
PS_KEYS = ["Command", "CreatedAt", "ID", "Image", "Labels", "LocalVolumes", "Mounts", "Names", "Networks", "Platform",
           "Ports", "RunningFor", "Size", "State", "Status"]
IMAGE_KEYS = ["Containers", "CreatedAt", "CreatedSince", "Digest", "ID", "Repository", "SharedSize", "Size", "Tag",
              "UniqueSize", "VirtualSize"]


def ok(p):
    assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
    return p.stdout


def statuses(fcli, *flags):
    return dict(line.split(" ", 1) for line in ok(fcli("ps", *flags, "--format", "{{.Names}} {{.Status}}")).splitlines())


def test_ps_status_words_after_a_real_exit(fcli):
    assert fcli("run", "--name", "three", "--network", "none", "bb:1", "sh", "-c", "exit 3").returncode == 3
    fcli("create", "--name", "made", "bb:1", "true")
    fcli("run", "-d", "--name", "up", "--network", "none", "bb:1", "sleep", "100")
    fcli("run", "-d", "--name", "frozen", "--network", "none", "bb:1", "sleep", "100")
    ok(fcli("pause", "frozen"))
    try:
        st = statuses(fcli, "-a")
        assert re.fullmatch(r"Exited \(3\) " + AGO, st["three"]), st
        assert st["made"] == "Created"
        assert re.fullmatch(r"Up (Less than a second|1 second|\d+ seconds|About a minute)", st["up"]), st
        assert re.fullmatch(r"Up .* \(Paused\)", st["frozen"]), st
        assert set(statuses(fcli)) == {"up", "frozen"}  # without -a: the running ones
        states = ok(fcli("ps", "-a", "--format", "{{.Names}}={{.State}}")).split()
        assert states == ["frozen=paused", "up=running", "made=created", "three=exited"]  # newest first
        created = ok(fcli("ps", "-a", "--format", "{{.RunningFor}}")).splitlines()
        assert all(re.fullmatch(AGO, c) for c in created), created
    finally:
        fcli("unpause", "frozen")
        fcli("rm", "-f", "three", "made", "up", "frozen")


def test_ps_table_and_json_as_docker(fcli):
    assert ok(fcli("ps")) == "CONTAINER ID   IMAGE     COMMAND   CREATED   STATUS    PORTS     NAMES\n"
    cid = ok(fcli("create", "--name", "quoted", "-l", "b=2", "-l", "a=1", "bb:1", "sh", "-c",
                  'echo "a b" and more words')).strip()
    try:
        lines = ok(fcli("ps", "-a")).splitlines()
        assert lines[0].split() == ["CONTAINER", "ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"]
        assert lines[1].startswith(cid[:12] + "   bb:1      \"sh -c 'echo \\\"a b\\\" a…\"   ")  # moby's quotes
        doc = json.loads(ok(fcli("ps", "-a", "--format", "json")))
        assert list(doc) == PS_KEYS
        assert doc["ID"] == cid[:12] and doc["Command"] == '"sh -c \'echo \\"a b\\" a…"' and doc["Labels"] == "a=1,b=2"
        assert doc["Platform"] is None
        assert doc["State"] == "created" and doc["Status"] == "Created" and doc["Size"] == "0B"
        full = json.loads(ok(fcli("ps", "-a", "--no-trunc", "--format", "{{json .}}")))
        assert full["ID"] == cid and full["Command"] == '"sh -c \'echo \\"a b\\" and more words\'"'
        assert ok(fcli("ps", "-a", "-q")) == cid[:12] + "\n"
        assert ok(fcli("ps", "-a", "-q", "--no-trunc")) == cid + "\n"
        sized = ok(fcli("ps", "-a", "-s", "--format", "{{.Size}}")).strip()
        assert re.fullmatch(r"0B \(virtual [\d.]+[kM]B\)", sized), sized
        assert ok(fcli("ps", "-a", "--format", "table {{.Names}}\\t{{.Labels}}")) == \
            "NAMES     LABELS\nquoted    a=1,b=2\n"
    finally:
        fcli("rm", cid)


def test_ps_filters_and_limits(fcli):
    for name, code in (("first", 0), ("second", 3), ("third", 0)):
        fcli("run", "--name", name, "--network", "none", "-l", f"n={name}", "bb:1", "sh", "-c", f"exit {code}")
    try:
        def names(*flags):
            return ok(fcli("ps", *flags, "--format", "{{.Names}}")).split()
        assert names("-a") == ["third", "second", "first"]
        assert names("-n", "2") == ["third", "second"] and names("-l") == ["third"]
        assert names("-a", "-f", "exited=3") == ["second"] and names("-f", "exited=3") == []
        assert names("-f", "status=exited") == ["third", "second", "first"]  # status implies -a
        assert names("-a", "-f", "name=ir") == ["third", "first"]  # a regular expression, as moby's
        assert names("-a", "-f", "label=n=second") == ["second"] and names("-a", "-f", "label=n") != []
        assert names("-a", "-f", "before=second") == ["first"] and names("-a", "-f", "since=first") == ["third",
                                                                                                          "second"]
        assert names("-a", "-f", "ancestor=bb:1") == ["third", "second", "first"]
        assert names("-a", "-f", "ancestor=nosuch:1") == []
        assert names("-a", "-f", "name=first", "-f", "name=third") == ["third", "first"]  # one key: any value
        assert names("-a", "-f", "name=first", "-f", "exited=3") == []  # two keys: both
        second = ok(fcli("inspect", "--format", "{{.Id}}", "second")).strip()
        assert names("-a", "-f", f"id={second[:10]}") == ["second"]
        assert names("-a", "-f", "network=none") == []
        p = fcli("ps", "-f", "bogus=1")
        assert p.returncode == 1 and p.stderr == "fastctr: invalid filter 'bogus'\n"
        p = fcli("ps", "-a", "-f", "status=sleeping")
        assert p.returncode == 1 and "invalid filter 'status=sleeping'" in p.stderr
        assert fcli("ps", "-f", "is-task=true").returncode == 125  # Docker's, not fastctr's: said so
        p = fcli("ps", "--format", "{{.Nope}}")
        assert p.returncode == 1 and "can't evaluate field Nope" in p.stderr
    finally:
        fcli("rm", "first", "second", "third")


def test_images_as_docker(fcli):
    ok(fcli("tag", "bb:1", "other/bb:v2"))
    try:
        lines = ok(fcli("images")).splitlines()
        assert lines[0] == "REPOSITORY   TAG       IMAGE ID       CREATED       SIZE"
        rows = [line.split() for line in lines[1:]]
        assert [r[:2] for r in rows] == [["bb", "1"], ["other/bb", "v2"]] and rows[0][2] == rows[1][2]
        assert re.fullmatch(r"[0-9a-f]{12}", rows[0][2]) and re.fullmatch(r"\d+(\.\d+)?[kMG]?B", rows[0][-1])
        assert " ".join(rows[0][3:-1]).endswith("ago")
        assert ok(fcli("images", "-q")).split() == [rows[0][2]] * 2  # one line per row, as Docker
        assert ok(fcli("images", "--no-trunc", "-q")).split()[0].startswith("sha256:")
        text = ok(fcli("images", "--format", "json")).splitlines()[0]
        doc = json.loads(text)
        assert list(doc) == IMAGE_KEYS and doc["Repository"] == "bb" and doc["Containers"] == "N/A"
        assert '"Digest":"\\u003cnone\\u003e"' in text  # a context's JSON goes through json.Marshal
        assert ok(fcli("images", "--digests")).splitlines()[0].split() == ["REPOSITORY", "TAG", "DIGEST", "IMAGE",
                                                                          "ID", "CREATED", "SIZE"]
        assert ok(fcli("images", "other/bb", "--format", "{{.Repository}}:{{.Tag}}")) == "other/bb:v2\n"
        assert ok(fcli("images", "-f", "reference=bb", "--format", "{{.Tag}}")) == "1\n"
        assert ok(fcli("images", "-f", "dangling=true", "-q")) == ""
        assert ok(fcli("images", "-f", "dangling=false", "-q")).count("\n") == 2
        assert ok(fcli("images", "-f", "before=bb:1", "-q")) == "" and ok(fcli("images", "-f", "label=x", "-q")) == ""
        assert fcli("images", "-f", "bogus=1").returncode == 1
        assert fcli("images", "--tree").returncode == 125
    finally:
        fcli("rmi", "other/bb:v2")


def test_history_as_docker(fcli):
    lines = ok(fcli("history", "bb:1")).splitlines()
    assert lines[0].split() == ["IMAGE", "CREATED", "CREATED", "BY", "SIZE", "COMMENT"]
    image_id = ok(fcli("images", "-q", "bb:1")).strip()
    assert lines[1].startswith(image_id + "   ") and all(line.startswith("<missing>") for line in lines[2:])
    assert ok(fcli("history", "-q", "bb:1")).split()[0] == image_id
    plain = ok(fcli("history", "-H=false", "--format", "{{.Size}} {{.CreatedSince}}", "bb:1")).split()
    assert plain[0].isdigit() and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)", plain[1])
    assert ok(fcli("history", "--no-trunc", "-q", "bb:1")).split()[0].startswith("sha256:")
    doc = json.loads(ok(fcli("history", "--format", "json", "bb:1")).splitlines()[0])
    assert list(doc) == ["Comment", "CreatedAt", "CreatedBy", "CreatedSince", "ID", "Size"]
    assert fcli("history", "--platform", "linux/arm64", "bb:1").returncode == 125


def test_info_and_version_formats(fcli):
    assert ok(fcli("info", "--format", "{{.Driver}}|{{.Images}}|{{.ClientInfo.Context}}")).strip() in \
        ("overlay2|1|default", "vfs|1|default")
    info = json.loads(ok(fcli("info", "--format", "json")))
    assert info["OSType"] == "linux" and info["NCPU"] >= 1 and info["Containers"] == 0
    text = ok(fcli("info"))
    assert text.startswith("Client:\n") and "\nServer:\n Containers: 0\n" in text
    version = ok(fcli("version", "--format", "{{.Client.Version}} {{.Server.Version}}")).split()
    assert version[0] == version[1] and json.loads(ok(fcli("version", "--format", "{{json .Client}}")))["Os"] == "linux"
    assert ok(fcli("version")).startswith("Client:\n Version:")
    assert fcli("version", "--format", "{{.Nope}}").returncode == 1


def test_prune_and_df_as_docker(fcli):
    assert ok(fcli("container", "prune", "-f")) == "Total reclaimed space: 0B\n"
    cid = ok(fcli("create", "bb:1", "true")).strip()
    assert ok(fcli("container", "prune", "-f")) == f"Deleted Containers:\n{cid}\n\nTotal reclaimed space: 0B\n"
    ok(fcli("volume", "create", "pruned"))
    assert ok(fcli("volume", "prune", "-f", "-a")) == "Deleted Volumes:\npruned\n\nTotal reclaimed space: 0B\n"
    lines = ok(fcli("system", "df")).splitlines()
    assert lines[0] == "TYPE            TOTAL     ACTIVE    SIZE      RECLAIMABLE"
    images = lines[1].split()
    assert images[:3] == ["Images", "1", "0"] and images[-1] == "(100%)" and images[3] == images[4]
    assert lines[2].split() == ["Containers", "0", "0", "0B", "0B"] and lines[4].split()[:2] == ["Build", "Cache"]
    assert ok(fcli("system", "df", "--format", "{{.Type}}:{{.TotalCount}}")).split()[:2] == ["Images:1",
                                                                                             "Containers:0"]
    assert fcli("system", "df", "-v").returncode == 125
