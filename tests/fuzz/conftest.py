"""The fuzz suite's budget and, for ``make fuzz``, its survey of outcomes.

In the normal suite each property draws ``CI_EXAMPLES`` programs (derandomized under
``YINGSHE_REQUIRE_REFERENCE=1``, as the root conftest sets up) and fails on the first bad
outcome, which hypothesis then shrinks. ``make fuzz`` sets ``YINGSHE_FUZZ_EXAMPLES`` (the
draws per property) and ``YINGSHE_FUZZ_SURVEY=1``: every draw is run and counted, nothing
stops early, and the session ends with counts by outcome, the share of draws per op
category, and examples of every bad outcome; it fails if there was any bad outcome or if a
category got under 5 % of the draws.
"""

from __future__ import annotations

import collections
import os

from .catalogue import CATEGORIES

# Draws per property in the normal suite: about three minutes in one process on a loaded
# two-core machine (measured with load average 11), under the ten that .ci/run allows.
CI_EXAMPLES = 60
EXAMPLES = int(os.environ.get("YINGSHE_FUZZ_EXAMPLES", CI_EXAMPLES))
SURVEY = os.environ.get("YINGSHE_FUZZ_SURVEY") == "1"
MIN_SHARE = 0.05     # each category in at least 5 % of the draws (none starved)
_KEEP = 12           # examples kept per (property, outcome)
_QUIET = ("agree", "both raise", "unsupported (listed)")   # outcomes shown without examples


class Tally:
    """Outcomes, categories and examples, per property, for the survey."""

    def __init__(self) -> None:
        self.outcomes: dict = collections.defaultdict(collections.Counter)
        self.categories: dict = collections.defaultdict(collections.Counter)
        self.names: dict = collections.defaultdict(collections.Counter)
        self.draws: collections.Counter = collections.Counter()
        self.examples: dict = collections.defaultdict(list)

    def add(self, prop: str, program, result, bad: tuple) -> None:
        self.draws[prop] += 1
        self.outcomes[prop][result.outcome] += 1
        for c in program.categories():
            self.categories[prop][c] += 1
        if result.outcome == "unsupported (listed)":
            self.names[prop].update(result.detail.split(", "))
        if result.outcome not in _QUIET:
            kept = self.examples[(prop, result.outcome)]
            head = result.detail[:120]
            if len(kept) < _KEEP and all(head != k[0][:120] for k in kept):
                kept.append((result.detail, program.source()))

    def starved(self) -> list:
        """(property, category, share) for every category under MIN_SHARE."""
        out = []
        for prop, n in self.draws.items():
            for c in CATEGORIES if prop != "compiled" else ():
                share = self.categories[prop][c] / n
                if share < MIN_SHARE:
                    out.append((prop, c, share))
        return out


TALLY = Tally()


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not TALLY.draws:
        return
    from .harness import BAD, C_BAD, C_OUTCOMES, OUTCOMES
    w = terminalreporter.write_line
    seed = config.getoption("hypothesis_seed", None)
    w("")
    w(f"==== yingshe fuzz: {EXAMPLES} draws per property"
      f"{'' if seed is None else f', hypothesis seed {seed}'} ====")
    for prop in sorted(TALLY.draws):
        outcomes, bad = (C_OUTCOMES, C_BAD) if prop == "compiled" else (OUTCOMES, BAD)
        n = TALLY.draws[prop]
        w(f"{prop}: {n} draws")
        for o in outcomes:
            mark = "  <- must be 0" if o in bad else ""
            w(f"  {o:<40} {TALLY.outcomes[prop][o]:>6}{mark}")
        if prop != "compiled":
            shares = ", ".join(f"{c} {TALLY.categories[prop][c] / n:.0%}" for c in CATEGORIES)
            w(f"  draws per category: {shares}")
        if TALLY.names[prop]:
            w("  listed unsupported names drawn: " + ", ".join(
                f"{k} ({v})" for k, v in TALLY.names[prop].most_common()))
    for (prop, outcome), kept in sorted(TALLY.examples.items()):
        full = outcome in (C_BAD if prop == "compiled" else BAD)
        w("")
        w(f"---- {prop}: {outcome} ({TALLY.outcomes[prop][outcome]}), examples:")
        for detail, source in kept:
            w(f"# {detail}")
            if full:        # the program, for the outcomes that must not happen
                w(source)
                w("")
    for prop, c, share in TALLY.starved():
        w(f"category {c!r} got {share:.1%} of the {prop} draws (under {MIN_SHARE:.0%})")


def pytest_sessionfinish(session, exitstatus):
    """The survey fails the run on any bad outcome or starved category."""
    from .harness import BAD, C_BAD
    bad = any(TALLY.outcomes[p][o] for p in TALLY.draws
              for o in (C_BAD if p == "compiled" else BAD))
    if SURVEY and (bad or TALLY.starved()):
        session.exitstatus = 1
