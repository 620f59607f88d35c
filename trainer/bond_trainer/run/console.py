"""Human output of the trainer: progress lines, evaluation lines and the closing summary.

Files are the source of truth; this is for people. A closed stdout (the editor that started the run
was reloaded) must never stop training, so every write swallows broken-pipe errors.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, Optional, TextIO


def format_duration(seconds: float) -> str:
    seconds = int(max(0, seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class Console:
    def __init__(self, out: TextIO = sys.stdout, err: TextIO = sys.stderr, min_interval_s: float = 2.0):
        self.out = out
        self.err = err
        self.min_interval_s = min_interval_s
        self._last_print = 0.0
        self._start_time = time.time()
        self._start_step = 0
        self._total = 1
        self._alive = True

    def _write(self, stream: TextIO, text: str) -> None:
        if not self._alive and stream is self.out:
            return
        try:
            stream.write(text)
            stream.flush()
        except (BrokenPipeError, OSError, ValueError):
            if stream is self.out:
                self._alive = False

    def line(self, text: str) -> None:
        self._write(self.out, text + "\n")

    def error(self, text: str) -> None:
        self._write(self.err, f"error: {text}\n")

    def start(self, step: int, total: int) -> None:
        self._start_time = time.time()
        self._start_step = step
        self._total = total
        self._last_print = 0.0

    def progress(self, step: int, metrics: dict[str, float]) -> None:
        now = time.time()
        if step != self._total and now - self._last_print < self.min_interval_s:
            return
        self._last_print = now
        done = step - self._start_step
        rate = done / max(now - self._start_time, 1e-9)
        eta = (self._total - step) / rate if rate > 0 else 0.0
        # What the algorithm wrote (BoNBoN draws no policy samples: no policy reward or KL per step).
        parts = []
        if "reward/policy" in metrics:
            parts.append(f"reward {metrics['reward/policy']:.3f}")
        drawn = [f"{label} {metrics[key]:.3f}" for key, label in (("reward/anchor", "anchor"), ("reward/bon", "best-of-n"))
                 if key in metrics]
        if drawn:
            parts.append(f"({', '.join(drawn)})" if parts else ", ".join(drawn))
        if "kl/policy_ref" in metrics:
            parts.append(f" KL(π‖ref) {metrics['kl/policy_ref']:.3f}")
        width = len(str(self._total))
        self.line(f"step {step:>{width}}/{self._total}  {' '.join(parts)}  loss {metrics['loss/total']:.3f}  "
                  f"{rate:.2f} steps/s  ETA {format_duration(eta)}")

    def evaluation(self, step: int, record: dict[str, Any]) -> None:
        self.line(f"  eval @ {step}: reward {record['eval/reward/policy']:.3f} "
                  f"(ref {record['eval/reward/ref']:.3f}, best-of-N {record['eval/reward/bon']:.3f})  "
                  f"KL(π‖ref) {record['eval/kl/policy_ref']:.3f}  effective N {record['eval/effective_n']:.2f}  "
                  f"win rate vs BoN {record['eval/win_rate_vs_bon']:.2f}")

    def summary(self, summary: Optional[dict[str, Any]], run_dir: Path) -> None:
        if summary is None:
            self.line(f"completed; run folder {run_dir}")
            return
        n = summary["bon_n"]
        self.line("")
        self.line(f"Summary after {summary['step']} steps (held-out prompts):")
        self.line(f"  reward       reference {summary['reward_ref']:.3f}   Best-of-{n} {summary['reward_bon']:.3f}   "
                  f"policy {summary['reward_policy']:.3f}")
        self.line(f"  KL(π‖π_ref)  {summary['kl_policy_ref']:.3f} nats   (Best-of-{n}: log N − (N−1)/N = "
                  f"{summary['kl_bon_bound']:.3f})")
        self.line(f"  effective N  {summary['effective_n']:.2f}   win rate vs Best-of-{n} {summary['win_rate_vs_bon']:.2f}")
        self.line(f"  run folder   {run_dir}")
