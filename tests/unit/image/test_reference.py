"""fastctr.image.reference against distribution/reference's own test vectors
(normalize_test.go, reference_test.go), and the store's keys built on it."""
import pytest

from fastctr.image import reference
from fastctr.image.reference import InvalidReference, canonical, match_familiar, parse_normalized
from fastctr.image.store import _simple_key, normalize_name, validate_name

HEX = "dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c"

VALID = [
    "docker/docker", "library/debian", "debian", "localhost/library/debian", "localhost/debian",
    "LOCALDOMAIN/library/debian", "LOCALDOMAIN/debian", "docker.io/docker/docker", "docker.io/library/debian",
    "docker.io/debian", "index.docker.io/docker/docker", "index.docker.io/library/debian", "index.docker.io/debian",
    "127.0.0.1:5000/docker/docker", "127.0.0.1:5000/library/debian", "127.0.0.1:5000/debian", "192.168.0.1",
    "192.168.0.1:80", "192.168.0.1:8/debian", "192.168.0.2:25000/debian",
    "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev", "[fc00::1]:5000/docker",
    "[fc00::1]:5000/docker/docker", "[fc00:1:2:3:4:5:6:7]:5000/library/debian",
    "docker.io/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a", "Docker/docker", "DOCKER/docker",
    "docker-rules/docker", "docker---rules/docker", "doc/docker", "d/docker", "jess/t", "dock__er/docker",
]

INVALID = [
    "https://github.com/docker/docker", "docker/Docker", "-docker", "-docker/docker", "-docker.io/docker/docker",
    "docker///docker", "docker.io/docker/Docker", "docker.io/docker///docker", "[fc00::1]", "[fc00::1]:5000",
    "fc00::1:5000/debian", "[fe80::1%eth0]:5000/debian", "[2001:db8:3:4::192.0.2.33]:5000/debian",
    "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a", "docker-/docker", "-docker-/docker",
    "____/____", "_docker/_docker", "dock..er/docker", "dock_.er/docker", "dock-.er/docker", "docker/",
    "this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_" * 4 + "/docker", "", "a b",
    "busybox:", "busybox:-x", "busybox@sha256:abc", "busybox@sha256:" + HEX.upper(), "busybox@md5:" + HEX,
    "busybox:" + "t" * 129,
]


@pytest.mark.parametrize("name", VALID)
def test_valid_names(name):
    parse_normalized(name)


@pytest.mark.parametrize("name", INVALID)
def test_invalid_names_are_one_line_errors(name):
    with pytest.raises(InvalidReference) as e:
        parse_normalized(name)
    assert "\n" not in str(e.value)


# (path, familiar name, full name, another spelling or None, domain): TestParseRepositoryInfo
REPOSITORY_INFO = [
    ("fooo", "localhost/fooo", "localhost/fooo", "localhost/fooo", "localhost"),
    ("fooo/bar", "localhost/fooo/bar", "localhost/fooo/bar", "localhost/fooo/bar", "localhost"),
    ("fooo", "LOCALDOMAIN/fooo", "LOCALDOMAIN/fooo", "LOCALDOMAIN/fooo", "LOCALDOMAIN"),
    ("fooo/bar", "LOCALDOMAIN/fooo/bar", "LOCALDOMAIN/fooo/bar", "LOCALDOMAIN/fooo/bar", "LOCALDOMAIN"),
    ("fooo/bar", "fooo/bar", "docker.io/fooo/bar", "index.docker.io/fooo/bar", "docker.io"),
    ("library/ubuntu", "ubuntu", "docker.io/library/ubuntu", "library/ubuntu", "docker.io"),
    ("nonlibrary/ubuntu", "nonlibrary/ubuntu", "docker.io/nonlibrary/ubuntu", None, "docker.io"),
    ("other/library", "other/library", "docker.io/other/library", None, "docker.io"),
    ("private/moonbase", "127.0.0.1:8000/private/moonbase", "127.0.0.1:8000/private/moonbase", None,
     "127.0.0.1:8000"),
    ("privatebase", "127.0.0.1:8000/privatebase", "127.0.0.1:8000/privatebase", None, "127.0.0.1:8000"),
    ("private/moonbase", "example.com/private/moonbase", "example.com/private/moonbase", None, "example.com"),
    ("privatebase", "example.com/privatebase", "example.com/privatebase", None, "example.com"),
    ("private/moonbase", "example.com:8000/private/moonbase", "example.com:8000/private/moonbase", None,
     "example.com:8000"),
    ("privatebasee", "example.com:8000/privatebasee", "example.com:8000/privatebasee", None, "example.com:8000"),
    ("library/ubuntu-12.04-base", "ubuntu-12.04-base", "docker.io/library/ubuntu-12.04-base",
     "index.docker.io/library/ubuntu-12.04-base", "docker.io"),
    ("library/foo", "foo", "docker.io/library/foo", "docker.io/foo", "docker.io"),
    ("library/foo/bar", "library/foo/bar", "docker.io/library/foo/bar", None, "docker.io"),
    ("store/foo/bar", "store/foo/bar", "docker.io/store/foo/bar", None, "docker.io"),
    ("bar", "Foo/bar", "Foo/bar", None, "Foo"),
    ("bar", "FOO/bar", "FOO/bar", None, "FOO"),
]


@pytest.mark.parametrize("path, familiar, full, other, domain", REPOSITORY_INFO)
def test_repository_info(path, familiar, full, other, domain):
    for text in filter(None, (familiar, full, other)):
        ref = parse_normalized(text)
        assert (ref.path, ref.familiar_name, ref.name, ref.domain) == (path, familiar, full, domain), text


@pytest.mark.parametrize("text, full", [
    ("redis", "docker.io/library/redis"),
    ("redis:latest", "docker.io/library/redis:latest"),
    ("docker.io/library/redis:latest", "docker.io/library/redis:latest"),
    (f"redis@sha256:{HEX}", f"docker.io/library/redis@sha256:{HEX}"),
    (f"docker.io/library/redis@sha256:{HEX}", f"docker.io/library/redis@sha256:{HEX}"),
    ("dmcgowan/myapp", "docker.io/dmcgowan/myapp"),
    ("dmcgowan/myapp:latest", "docker.io/dmcgowan/myapp:latest"),
    ("docker.io/mcgowan/myapp:latest", "docker.io/mcgowan/myapp:latest"),
    (f"dmcgowan/myapp@sha256:{HEX}", f"docker.io/dmcgowan/myapp@sha256:{HEX}"),
    (HEX[:-1], f"docker.io/library/{HEX[:-1]}"),
    ("dbcc1", "docker.io/library/dbcc1"),
])
def test_parse_any_reference(text, full):
    assert str(parse_normalized(text)) == full


@pytest.mark.parametrize("text, domain, path", [
    ("test.com/foo", "test.com", "foo"), ("test_com/foo", "docker.io", "test_com/foo"),
    ("docker/migrator", "docker.io", "docker/migrator"), ("test.com:8080/foo", "test.com:8080", "foo"),
    ("test-com:8080/foo", "test-com:8080", "foo"), ("foo", "docker.io", "library/foo"),
    ("xn--n3h.com/foo", "xn--n3h.com", "foo"), ("xn--n3h.com:18080/foo", "xn--n3h.com:18080", "foo"),
    ("docker.io/foo", "docker.io", "library/foo"), ("docker.io/library/foo", "docker.io", "library/foo"),
    ("docker.io/library/foo/bar", "docker.io", "library/foo/bar"),
])
def test_split_hostname(text, domain, path):
    ref = parse_normalized(text)
    assert (ref.domain, ref.path) == (domain, path)


@pytest.mark.parametrize("text, full", [
    ("busybox", "docker.io/library/busybox:latest"),
    ("busybox:latest", "docker.io/library/busybox:latest"),
    (f"busybox@sha256:{HEX}", f"docker.io/library/busybox@sha256:{HEX}"),
    ("library/busybox", "docker.io/library/busybox:latest"),
    ("docker.io/busybox", "docker.io/library/busybox:latest"),
    ("docker.io/library/busybox", "docker.io/library/busybox:latest"),
    ("docker.io/busybox:latest", "docker.io/library/busybox:latest"),
    ("library/busybox:latest", "docker.io/library/busybox:latest"),
    (f"docker.io/library/busybox:latest@sha256:{HEX}", f"docker.io/library/busybox@sha256:{HEX}"),
    ("gcr.io/library/busybox", "gcr.io/library/busybox:latest"),
])
def test_parse_docker_ref(text, full):
    assert str(parse_normalized(text).docker_ref()) == full


def test_tag_and_digest_kept_by_parse_dropped_by_docker_ref():
    short = f"busybox:latest@sha256:{HEX}"
    ref = parse_normalized(short)
    assert str(ref) == "docker.io/library/" + short and ref.familiar() == short
    assert canonical(short) == f"busybox@sha256:{HEX}"


@pytest.mark.parametrize("name, pattern, expected", [
    ("foo", "foo/**/ba[rz]", False), ("foo/any/bat", "foo/**/ba[rz]", False),
    ("foo/a/bar", "foo/**/ba[rz]", True), ("foo/b/baz", "foo/**/ba[rz]", True),
    ("foo/c/baz:tag", "foo/**/ba[rz]", True), ("foo/c/baz:tag", "foo/*/baz:tag", True),
    ("foo/c/baz:tag", "foo/c/baz:tag", True), ("example.com/foo/c/baz:tag", "*/foo/c/baz", True),
    ("example.com/foo/c/baz:tag", "example.com/foo/c/baz", True),
])
def test_familiar_match(name, pattern, expected):
    assert match_familiar(pattern, parse_normalized(name).familiar()) is expected


def test_uppercase_message_is_dockers():
    with pytest.raises(InvalidReference, match=r"^invalid reference format: repository name \(library/Foo\) "
                                               r"must be lowercase$"):
        parse_normalized("Foo")
    with pytest.raises(InvalidReference, match="cannot specify 64-byte hexadecimal strings"):
        parse_normalized(HEX)


# ------------------------------------------------------------ the store's keys

@pytest.mark.parametrize("text, key", [
    ("busybox", "busybox:latest"), ("busybox:latest", "busybox:latest"), ("library/busybox", "busybox:latest"),
    ("docker.io/library/busybox:latest", "busybox:latest"), ("index.docker.io/busybox", "busybox:latest"),
    ("debian:12", "debian:12"), ("docker.io/library/debian:12", "debian:12"), ("myuser/app:1", "myuser/app:1"),
    ("docker.io/myuser/app:1", "myuser/app:1"), ("quay.io/x/y:1", "quay.io/x/y:1"),
    ("localhost:5000/a:b", "localhost:5000/a:b"), ("localhost/a", "localhost/a:latest"),
    (f"busybox@sha256:{HEX}", f"busybox@sha256:{HEX}"), ("localhost:5000", "localhost:5000"),
])
def test_store_keys(text, key):
    assert normalize_name(text) == key == validate_name(text)


@pytest.mark.parametrize("text", [
    "a", "a:b", "busybox", "x-y", "x--y", "x__y", "a.b.c:1.0", "a1:V_1.2-rc", "Ab", "a..b", "a._b", "-a", "a-",
    "a___b", "a:.x", "a:-x", "a:", ":a", "a:b:c", HEX, HEX[:12], "a:" + "x" * 128, "a:" + "x" * 129, "a_-b",
])
def test_the_fast_path_agrees_with_the_grammar(text):
    fast = _simple_key(text)
    try:
        slow = reference.canonical(text)
    except InvalidReference:
        slow = None
    assert fast is None or fast == slow, (fast, slow)


def test_an_id_is_no_name():
    with pytest.raises(InvalidReference):
        validate_name("sha256:" + HEX)
