"""Named, timed steps: each prints how long it took, and a failure names the step it happened in."""
from __future__ import annotations

import contextlib
import sys
import time


class StepFailed(AssertionError):
    pass


class Steps:
    def __init__(self, title: str):
        self.title, self.timings = title, []

    def say(self, text: str) -> None:
        print(f"[{self.title}] {text}", file=sys.stderr, flush=True)

    @contextlib.contextmanager
    def __call__(self, name: str):
        number = len(self.timings) + 1
        self.say(f"step {number}: {name} ...")
        started = time.monotonic()
        try:
            yield
        except Exception as error:
            seconds = time.monotonic() - started
            self.timings.append((name, seconds, "FAILED"))
            self.say(f"step {number}: {name}: FAILED after {seconds:.1f} s")
            raise StepFailed(f"instance step {number} '{name}' failed: {error}") from error
        seconds = time.monotonic() - started
        self.timings.append((name, seconds, "ok"))
        self.say(f"step {number}: {name}: ok in {seconds:.1f} s")

    def record(self, name: str, seconds: float) -> None:
        """A sub-step timed elsewhere (a hook inside a deployment)."""
        self.say(f"    {name}: {seconds:.1f} s")

    def summary(self) -> str:
        width = max((len(name) for name, _, _ in self.timings), default=10)
        lines = [f"{name:<{width}}  {seconds:7.1f} s  {state}" for name, seconds, state in self.timings]
        total = sum(seconds for _, seconds, _ in self.timings)
        return "\n".join([f"[{self.title}] timings:", *lines, f"{'total':<{width}}  {total:7.1f} s"])
