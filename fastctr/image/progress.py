"""What `pull` and `push` print, in the lines `docker pull`/`docker push` print.

Off a terminal Docker's CLI shows only the status lines of each layer
(`a1b2c3d4e5f6: Pull complete`); on one it also redraws a
`Downloading  1.2MB/2.2MB` line in place.  Layers are named by the first 12
hex digits of their blob digest, as Docker names them."""
import io
import os


def short(digest):
    return digest.split(":", 1)[-1][:12]


def human_size(n):
    """Docker's units (go-units HumanSize): 1.99MB, 512B."""
    n = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.4g}{unit}"
        n /= 1000


def bar(done, total, columns=120):
    """Docker's progress (jsonmessage's JSONProgress): '[=====>     ]  1.2MB/2.2MB',
    the bar only on a terminal wider than 110 columns."""
    half = min(50, int(done / total * 100) // 2) if total else 50
    box = f"[{'=' * half}>{' ' * (50 - half)}] " if columns > 110 else ""
    return f"{box}{human_size(done):>8}/{human_size(total)}"


class Lines:
    """Status lines to one stream; progress redrawn only on a terminal."""

    def __init__(self, stream):
        self.stream = stream
        self.tty = stream.isatty()
        self._open = False  # a progress line is on screen, not ended

    def line(self, text):
        if self._open:
            self.stream.write("\r\x1b[2K")
            self._open = False
        self.stream.write(text + "\n")
        self.stream.flush()

    def columns(self):
        try:
            return os.get_terminal_size(self.stream.fileno()).columns
        except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
            return 120

    def progress(self, text):
        if self.tty:
            self.stream.write("\r\x1b[2K" + text)
            self.stream.flush()
            self._open = True


class PullReport(Lines):
    """Callbacks for fastctr.image.loading.pull."""

    def __init__(self, stream, quiet=False):
        super().__init__(stream)
        self.quiet = quiet
        self.started, self.downloaded, self.existing = set(), [], []

    def out(self, text):
        if not self.quiet:
            self.line(text)

    def begin(self, ref):
        """ref: a fastctr.image.reference.Ref."""
        self.out(f"{ref.digest or ref.tag}: Pulling from {ref.path}")

    def exists(self, digest):
        self.existing.append(digest)
        self.out(f"{short(digest)}: Already exists")

    def __call__(self, digest, done, total):  # registry's progress callback
        if self.quiet:
            return
        if digest not in self.started:
            self.started.add(digest)
            self.out(f"{short(digest)}: Pulling fs layer")
        if done < total:
            self.progress(f"{short(digest)}: Downloading {bar(done, total, self.columns())}")
        else:
            self.downloaded.append(digest)
            self.out(f"{short(digest)}: Verifying Checksum")
            self.out(f"{short(digest)}: Download complete")

    def installed(self, digest_of_manifest, name, full_name, new):
        for digest in self.downloaded:
            self.out(f"{short(digest)}: Pull complete")
        self.out(f"Digest: {digest_of_manifest}")
        self.out(f"Status: {'Downloaded newer image' if new else 'Image is up to date'} for {name}")


class PushReport(Lines):
    def __init__(self, stream, quiet=False):
        super().__init__(stream)
        self.quiet = quiet

    def out(self, text):
        if not self.quiet:
            self.line(text)

    def begin(self, ref):
        self.out(f"The push refers to repository [{ref.name}]")

    def layer(self, digest, state):
        """state: Preparing, Pushed, Layer already exists, Mounted from X."""
        self.out(f"{short(digest)}: {state}")

    def done(self, tag, digest, size):
        self.out(f"{tag}: digest: {digest} size: {size}")
