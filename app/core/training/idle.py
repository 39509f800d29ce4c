"""When the computer counts as idle for training the next version by itself: the whole machine's CPU stayed under
a floor for a stretch, and nothing of Hearth's is busy. Fed from the hardware sampler's readings, with their own
times, so a test drives it with made-up readings and never sleeps."""

from __future__ import annotations

from dataclasses import dataclass

BUSY_PERCENT = 20.0  # all cores together; a person typing or a video playing stays above it on a laptop
QUIET_FOR_S = 120.0


@dataclass
class IdleClock:
    busy_percent: float = BUSY_PERCENT
    quiet_for_s: float = QUIET_FOR_S
    quiet_since: float | None = None

    def observe(self, cpu_percent: float, at: float) -> None:
        if cpu_percent >= self.busy_percent:
            self.quiet_since = None
        elif self.quiet_since is None:
            self.quiet_since = at

    def busy(self) -> None:
        """Something of Hearth's own started (a reply, a job): the quiet stretch starts again after it."""
        self.quiet_since = None

    def idle(self, now: float) -> bool:
        return self.quiet_since is not None and now - self.quiet_since >= self.quiet_for_s


def may_train_now(*, opted_in: bool, nudged: bool, job_running: bool, generating: bool, idle: bool) -> bool:
    """Train the next version unasked only when the person opted in, the nudge is due, no job runs, the engine is
    not writing a reply and the computer has been idle."""
    return opted_in and nudged and not job_running and not generating and idle
