"""fastctr.image.credentials: Docker's config.json, as docker reads and writes it."""
import base64
import json
import os

import pytest

from fastctr.errors import RegistryError
from fastctr.image import credentials


@pytest.fixture
def config(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "cfg"))
    return tmp_path / "cfg" / "config.json"


@pytest.mark.parametrize("server, key", [
    ("localhost:5000", "localhost:5000"), ("https://localhost:5000", "localhost:5000"),
    ("http://localhost:5000/v2/", "localhost:5000"), ("quay.io", "quay.io"),
    ("docker.io", credentials.DOCKER_HUB_KEY), ("index.docker.io", credentials.DOCKER_HUB_KEY),
    ("registry-1.docker.io", credentials.DOCKER_HUB_KEY), ("https://index.docker.io/v1/", credentials.DOCKER_HUB_KEY),
])
def test_server_keys_are_dockers(server, key):
    assert credentials.server_key(server) == key


def test_save_lookup_erase_keep_the_other_keys(config):
    os.makedirs(config.parent)
    config.write_text(json.dumps({"auths": {"https://quay.io": {"auth": base64.b64encode(b"q:w").decode()}},
                                  "proxies": {"default": {"httpProxy": "http://p"}}}))
    assert credentials.lookup("quay.io") == ("q", "w")  # Docker's older 'https://host' spelling
    assert credentials.save("localhost:5000", "alice", "pa:ss") == "localhost:5000"
    doc = json.loads(config.read_text())
    assert doc["auths"]["localhost:5000"] == {"auth": base64.b64encode(b"alice:pa:ss").decode()}
    assert doc["proxies"] == {"default": {"httpProxy": "http://p"}}
    assert os.stat(config).st_mode & 0o777 == 0o600
    assert credentials.lookup("http://localhost:5000") == ("alice", "pa:ss")
    assert credentials.lookup("localhost:5001") is None
    assert credentials.erase("localhost:5000") and not credentials.erase("localhost:5000")
    assert credentials.lookup("localhost:5000") is None
    assert json.loads(config.read_text())["proxies"] == {"default": {"httpProxy": "http://p"}}


def test_docker_hub_is_keyed_as_docker_keys_it(config):
    credentials.save("docker.io", "u", "p")
    assert list(json.loads(config.read_text())["auths"]) == [credentials.DOCKER_HUB_KEY]
    assert credentials.lookup("registry-1.docker.io") == ("u", "p")


def test_a_credential_helper_is_refused_not_bypassed(config):
    os.makedirs(config.parent)
    config.write_text(json.dumps({"credsStore": "desktop"}))
    with pytest.raises(RegistryError, match="credential helper"):
        credentials.save("localhost:5000", "u", "p")
    assert json.loads(config.read_text()) == {"credsStore": "desktop"}


def test_a_broken_file_is_one_line(config):
    os.makedirs(config.parent)
    config.write_text("{not json")
    with pytest.raises(RegistryError, match="is not valid JSON"):
        credentials.lookup("localhost:5000")


def test_no_file_means_no_credentials(config):
    assert credentials.lookup("localhost:5000") is None
    assert not credentials.erase("localhost:5000")
    assert not config.exists()
