"""``RefreshSchedule``: the cron expressions of Intel's PCCS (``"0 0 1 * * *"``: seconds, minutes, hours,
day of month, month, day of week; the five-field form without seconds too), and when they next fire.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta

_FIELDS = (("second", 0, 59), ("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12))
_DOW = ("day of week", 0, 7)
_MAX_DAYS = 366 * 8


class ScheduleError(ValueError):
    """A cron expression that cannot be read; the message names the field and the reason."""


def _field(text: str, name: str, low: int, high: int) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        body, _, step_text = part.partition("/")
        if step_text and not step_text.isdigit():
            raise ScheduleError(f"{name}: step {step_text!r} is not a number")
        step = int(step_text) if step_text else 1
        if step < 1:
            raise ScheduleError(f"{name}: step must be at least 1")
        if body in ("*", "?"):
            start, end = low, high
        elif "-" in body:
            a, _, b = body.partition("-")
            if not (a.isdigit() and b.isdigit()):
                raise ScheduleError(f"{name}: {body!r} is not a range of numbers")
            start, end = int(a), int(b)
        elif body.isdigit():
            start = int(body)
            end = high if step_text else start
        else:
            raise ScheduleError(f"{name}: {body!r} is not a number, range or '*'")
        if not (low <= start <= high and low <= end <= high) or start > end:
            raise ScheduleError(f"{name}: {body!r} is outside {low}-{high}")
        values.update(range(start, end + 1, step))
    return frozenset(values)


@dataclass(frozen=True)
class RefreshSchedule:
    """A parsed cron expression; ``next_after(t)`` is the first firing strictly after ``t`` (local time)."""

    text: str
    seconds: frozenset[int]
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    any_day: bool
    any_weekday: bool

    @classmethod
    def parse(cls, text: str) -> RefreshSchedule:
        parts = text.split()
        if len(parts) == 5:
            parts = ["0", *parts]
        if len(parts) != 6:
            raise ScheduleError(f"{text!r} has {len(parts)} fields; a schedule has 6 (sec min hour day month weekday)")
        sec, minute, hour, day, month = (_field(p, *spec) for p, spec in zip(parts[:5], _FIELDS, strict=True))
        weekdays = frozenset(d % 7 for d in _field(parts[5], *_DOW))
        return cls(text, sec, minute, hour, day, month, weekdays, parts[3] in ("*", "?"), parts[5] in ("*", "?"))

    def _day_matches(self, day: datetime) -> bool:
        if day.month not in self.months:
            return False
        in_month = day.day in self.days
        in_week = (day.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:
            return in_month and in_week
        return in_month or in_week  # cron: both restricted means either matches

    def next_after(self, when: float) -> float:
        """Unix time of the next firing after ``when``; ``ScheduleError`` if it never fires (31 February)."""
        start = datetime.fromtimestamp(int(when) + 1)
        day = start.replace(hour=0, minute=0, second=0, microsecond=0)
        # (hour, minute, second) in increasing order: the first one at or after ``start`` on a matching day.
        times = list(itertools.product(sorted(self.hours), sorted(self.minutes), sorted(self.seconds)))
        for _ in range(_MAX_DAYS):
            if self._day_matches(day):
                for hour, minute, second in times:
                    candidate = day.replace(hour=hour, minute=minute, second=second)
                    if candidate >= start:
                        return candidate.timestamp()
            day += timedelta(days=1)
        raise ScheduleError(f"the schedule {self.text!r} never fires")
