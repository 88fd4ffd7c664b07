"""The rounds of a bench: runtimes interleaved round by round (so that the
machine's noise hits them alike), N spawners per runtime at once, a
progress bar on a terminal, and Ctrl-C: the containers in flight are ended,
the spawners joined, then the caller sweeps."""
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from fastctr.bench.runtimes import Failure


class Progress:
    """A one-line bar on stderr, only when stderr is a terminal."""

    def __init__(self, total, stream=None):
        self.stream = stream or sys.stderr
        self.on = self.stream.isatty()
        self.total, self.done = max(total, 1), 0

    def advance(self, n, label):
        self.done += n
        if self.on:
            width = 30
            filled = width * self.done // self.total
            self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} {label:<14}")
            self.stream.flush()

    def finish(self):
        if self.on:
            self.stream.write("\r" + " " * 60 + "\r")
            self.stream.flush()


class Rounds:
    """Runs `count` measured containers (after `warmup` rounds) per runtime.

    A round starts, for each runtime in turn, one batch of `concurrency`
    containers at once and waits for all of them; containers per second
    are the runtime's containers over the summed wall time of its batches."""

    def __init__(self, runtimes, count, warmup, concurrency, progress=None):
        self.active = list(runtimes)
        self.count, self.warmup, self.concurrency = count, warmup, concurrency
        self.samples, self.wall = [], {rt.name: 0.0 for rt in runtimes}
        self.skipped, self.failed = [], []
        self.started = set()  # runtimes with one container done (after that, a failure is a failure)
        self.pool = ThreadPoolExecutor(concurrency) if concurrency > 1 else None
        self.pending = []
        self.running, self.lock = 0, threading.Lock()
        self.seq = 0
        rounds = -(-count // concurrency)
        self.progress = progress or Progress((warmup * concurrency + count) * len(runtimes))
        self.rounds = rounds

    def run(self):
        try:
            for r in range(self.warmup + self.rounds):
                measured = r >= self.warmup
                n = min(self.concurrency, self.count - (r - self.warmup) * self.concurrency) if measured \
                    else self.concurrency
                for rt in list(self.active):
                    self._batch(rt, n, r - self.warmup if measured else None)
        finally:
            self.progress.finish()

    def _batch(self, rt, n, round_no):
        seqs = [self._next() for _ in range(n)]
        t0 = time.perf_counter()
        if self.pool is None:
            results = [self._one(rt, 0, seqs[0])]
        else:
            self.pending = [self.pool.submit(self._one, rt, slot, seq) for slot, seq in enumerate(seqs)]
            results = [f.result() for f in self.pending]
            self.pending = []
        wall = time.perf_counter() - t0
        self.progress.advance(n, rt.name)
        errors = [r for r in results if isinstance(r, Failure)]
        if errors:
            self.active.remove(rt)
            if rt.third_party and rt.name not in self.started:
                self.skipped.append((rt.name, f"cannot work here: {errors[0]}"))
            else:
                self.failed.append((rt.name, str(errors[0])))
            return
        self.started.add(rt.name)
        if round_no is None:
            return
        self.wall[rt.name] += wall
        for slot, sample in enumerate(results):
            self.samples.append({"runtime": rt.name, "round": round_no, "slot": slot,
                                 "latency_ms": round(sample["latency_ms"], 3), "stages": sample.get("stages", [])})

    def _one(self, rt, slot, seq):
        with self.lock:
            self.running += 1
        try:
            return rt.run(slot, seq)
        except Failure as e:
            return e
        finally:
            with self.lock:
                self.running -= 1

    def _next(self):
        self.seq += 1
        return self.seq

    def stop(self, runtimes, patience=15.0):
        """After Ctrl-C: end every runtime's containers in flight until the
        spawners are back (a spawner may start one more as we end them)."""
        deadline = time.monotonic() + patience
        while True:
            for rt in runtimes:
                rt.interrupt()
            if self.running == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        if self.pool:
            self.pool.shutdown(wait=True, cancel_futures=True)

    def close(self):
        if self.pool:
            self.pool.shutdown(wait=True)
