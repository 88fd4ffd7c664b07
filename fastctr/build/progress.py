"""The build's progress, as `docker build` (BuildKit) prints it in plain
mode, on stderr: each vertex numbered (`#5 [2/3] RUN make`), its output
lines with the seconds since it began, `CACHED`, `DONE 0.3s` or `ERROR:`.
--progress tty prints the same lines (a terminal gets them as they come);
-q prints nothing here and only the image ID on stdout."""
import sys
import time


class Progress:
    def __init__(self, stream=None, quiet=False):
        self.stream = stream if stream is not None else sys.stderr
        self.quiet = quiet
        self.number = 0
        self.began = {}

    def _print(self, text):
        if not self.quiet:
            self.stream.write(text + "\n")
            self.stream.flush()

    def vertex(self, title):
        """A new numbered vertex -> its number."""
        self.number += 1
        self.began[self.number] = time.monotonic()
        self._print(f"\n#{self.number} {title}")
        return self.number

    def line(self, n, text):
        self._print(f"#{n} {text}")

    def output(self, n, text):
        self._print(f"#{n} {time.monotonic() - self.began.get(n, time.monotonic()):.3f} {text}")

    def cached(self, n):
        self._print(f"#{n} CACHED")

    def done(self, n):
        self._print(f"#{n} DONE {time.monotonic() - self.began.get(n, time.monotonic()):.1f}s")

    def error(self, n, message):
        self._print(f"#{n} ERROR: {message}")

    def failure(self, path, line, end_line, lines, title, message):
        """The summary docker build prints after a failed step."""
        if self.quiet:
            return
        out = ["------", f" > {title}:", "------"]
        if path and line:
            out.append(f"{path}:{line}" + (f"-{end_line}" if end_line and end_line != line else ""))
            out.append("-" * 20)
            first = max(1, line - 2)
            for i in range(first, min(len(lines), (end_line or line) + 2) + 1):
                mark = ">>>" if line <= i <= (end_line or line) else "   "
                out.append(f" {i:3d} | {mark} {lines[i - 1]}")
            out.append("-" * 20)
        self.stream.write("\n".join(out) + "\n")
        self.stream.flush()
