"""The command protocol's requests as csrc/client.c writes them."""
import pytest

from fastctr.server import protocol


def payload(cwd=b"/work", umask=b"22", argv=(b"run", b"--rm", b"bb"), env=(b"A=1", b"B=x=y")):
    parts = [cwd, umask, str(len(argv)).encode(), *argv, *env]
    return b"".join(p + b"\0" for p in parts)


def test_a_request_is_parsed_into_cwd_umask_argv_env_and_fds():
    r = protocol.parse(payload(), [5, 6, 7])
    assert (r.cwd, r.umask, r.argv, r.env, r.fds) == ("/work", 0o22, ["run", "--rm", "bb"], {"A": "1", "B": "x=y"},
                                                      [5, 6, 7])


def test_bytes_that_are_not_utf8_survive_as_os_strings():
    r = protocol.parse(payload(argv=(b"echo", b"\xff")), [0, 1, 2])
    assert r.argv[1].encode("utf-8", "surrogateescape") == b"\xff"


def test_an_empty_argument_and_no_environment():
    r = protocol.parse(payload(argv=(b"x", b""), env=()), [0, 1, 2])
    assert (r.argv, r.env) == (["x", ""], {})


@pytest.mark.parametrize("data, fds", [
    (payload(), [0, 1]),                       # two descriptors
    (payload()[:-1], [0, 1, 2]),               # not NUL-terminated
    (b"/\x0022\x009\x00a\x00", [0, 1, 2]),     # more arguments announced than sent
    (b"/\x00zz\x000\x00", [0, 1, 2]),          # a umask that is not octal
])
def test_malformed_requests_are_refused(data, fds):
    with pytest.raises(protocol.BadRequest):
        protocol.parse(data, fds)


def test_the_header_names_the_payload_length_and_bounds_it():
    assert protocol.payload_length(protocol.HEADER.pack(b"FCT1", 12)) == 12
    with pytest.raises(protocol.BadRequest):
        protocol.payload_length(protocol.HEADER.pack(b"HTTP", 12))
    with pytest.raises(protocol.BadRequest):
        protocol.payload_length(protocol.HEADER.pack(b"FCT1", protocol.MAX_PAYLOAD + 1))


def test_frames_are_a_tag_and_a_little_endian_int():
    assert protocol.frame(b"EXIT", 3) == b"EXIT\x03\x00\x00\x00"
    assert protocol.deny("no") == b"DENY\x02\x00\x00\x00no"
