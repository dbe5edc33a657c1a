"""The verdicts of freshly executed notebooks against the committed ones, by the compatibility rule.

    python -m sparsekit.course.compare build/results results/quick

nbval (``make nbval``) executes every committed notebook and compares each claim line with its
id, statement, bar and K - but not the verdict word nor the measured numbers, which move with the
machine (CPU kernels, thread reductions). This check reads the results JSON those executions
wrote and the committed ones beside the notebooks, prints every verdict that moved, and fails only
on a contradiction: a claim reproduced in one and not reproduced in the other. Inconclusive or not
tested beside either is compatible. Timed claims (decided by a timing on the machine that runs
them) are printed when they move and never fail the check.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sparsekit.verdicts import contradicts

from .report import load_results

__all__ = ["compare", "main"]


def compare(executed: list[dict], committed: list[dict]) -> tuple[list[str], list[str]]:
    """(moved, contradictions): one line per claim whose verdict differs, and those that contradict.
    A committed notebook without fresh results, or a claim missing on one side, is a contradiction
    (the check could not be made)."""
    fresh = {r["notebook"]: r for r in executed}
    moved, bad = [], []
    for old in committed:
        name = old["notebook"]
        new = fresh.get(name)
        if new is None:
            bad.append(f"{name}: no fresh results (was the notebook executed? nbval writes build/results)")
            continue
        now = {c["id"]: c for c in new["claims"]}
        for c in old["claims"]:
            n = now.get(c["id"])
            if n is None:
                bad.append(f"{name} {c['id']}: in the committed notebook, not in the fresh run")
                continue
            if n["verdict"] == c["verdict"]:
                continue
            timed = bool(c.get("timed") or n.get("timed"))
            line = f"{name} {c['id']}: {c['verdict']} -> {n['verdict']}" + (" (timed: not judged)" if timed else "")
            moved.append(line)
            if not timed and contradicts(c["verdict"], n["verdict"]):
                bad.append(line)
        extra = sorted(set(now) - {c["id"] for c in old["claims"]})
        bad += [f"{name} {cid}: in the fresh run, not in the committed notebook" for cid in extra]
    return moved, bad


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sparsekit.course.compare", description=__doc__.split("\n\n")[0])
    ap.add_argument("executed", help="results JSON of the fresh execution (nbval writes build/results)")
    ap.add_argument("committed", help="the committed results JSON (results/quick)")
    args = ap.parse_args(argv)
    executed, committed = load_results(Path(args.executed)), load_results(Path(args.committed))
    if not committed:
        print(f"no committed results in {args.committed}", file=sys.stderr)
        return 1
    moved, bad = compare(executed, committed)
    n = sum(len(r["claims"]) for r in committed)
    print(f"verdicts of {len(committed)} notebooks, {n} claims: {len(moved)} moved, {len(bad)} contradictions")
    for line in moved:
        print("  moved:", line)
    for line in bad:
        print("  CONTRADICTION:", line, file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
