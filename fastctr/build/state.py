"""A build's state: an image config and its layer blobs, what each step
starts from and makes; its ID is the digest of the config, as an image's."""
from fastctr import jsonfast as json
from fastctr.image.store import _sha256, chain_ids  # _sha256: not hashlib's OpenSSL (~4 ms to load)

PROXY_ARGS = {"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy", "NO_PROXY",
              "no_proxy", "ALL_PROXY", "all_proxy"}
COMMENT = "buildkit.dockerfile.v0"


class State:
    """An image config and its layer blobs: what a step starts from and makes."""

    def __init__(self, config, layer_blobs):
        self.config = config
        self.layer_blobs = list(layer_blobs)
        self._bytes = None

    def config_bytes(self):
        if self._bytes is None:
            self._bytes = json.dumps(self.config, separators=(",", ":")).encode()
        return self._bytes

    @property
    def id(self):
        return "sha256:" + _sha256(self.config_bytes()).hexdigest()

    def diff_ids(self):
        return list((self.config.get("rootfs") or {}).get("diff_ids") or [])

    def chain(self):
        return chain_ids(self.diff_ids())

    def image_record(self):
        return {"id": self.id, "config": self.config, "layer_blobs": self.layer_blobs}
