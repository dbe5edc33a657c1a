"""Re-decide the committed full-profile results of the second edition by the interval rule.

    python results/full/redecide_second_edition.py      # rewrites REDECIDED.md and aggregate.json

The second edition's full runs (one base seed each; notebook 00 three overlapping ones) stored each
claim's numbers only inside its ``ours`` text. Where that text holds the paired difference's mean
and standard deviation over K seeds (directly, or as a mean and the rule's old lower bound, mean -
sd), the interval rule can be applied to them exactly as ``sparsekit.verdicts.decide`` would to the
values: L, U = mean -/+ t(0.95, K-1) sd / sqrt(K) (the printed numbers are rounded, so the bounds are
too). Where it does not (per-arm spreads only, medians, a single timing), the claim keeps its
second-edition verdict, marked as waiting for a re-run of its notebook's full profile. Notebook 00's
base seeds 1 and 2 shared seven of eight seeds with base seed 0 (the second edition's overlapping
windows), so only base seed 0 is re-decided.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

from scipy import stats

from sparsekit.course.report import markdown_table
from sparsekit.verdicts import decide_bounds, decide_every, exact, not_tested

HERE = Path(__file__).resolve().parent
NUM = r"([-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?)"
BARS = {  # the second edition's bars (its rules cells), unchanged by the third edition
    ("00_sparsity_tour", "T1"): 0.0, ("00_sparsity_tour", "T3"): 10.0, ("00_sparsity_tour", "T4"): -1.0,
    ("01_lottery_tickets", "L1"): 0.0, ("01_lottery_tickets", "L2"): 0.0, ("01_lottery_tickets", "L3"): 0.0,
    ("01_lottery_tickets", "L4"): 5.0, ("01_lottery_tickets", "L5"): 0.0,
    ("03_nm_sparsity", "N1"): 0.0, ("03_nm_sparsity", "N2"): 0.0, ("03_nm_sparsity", "N3"): -1.0,
    ("03_nm_sparsity", "N4"): 0.0,
}
EXACT = {  # claims whose rules are exact in both editions: their verdicts stand as they were decided
    ("00_sparsity_tour", "T2"), ("02_rnn_pruning", "R0"), ("02_rnn_pruning", "R5"), ("04_sdr_memory", "S1"),
    ("04_sdr_memory", "S2"), ("04_sdr_memory", "S3"), ("04_sdr_memory", "S4"), ("04_sdr_memory", "S6"),
    ("06_sparse_dynamics_mpc", "M2"),
}


def interval(mean: float, sd: float, k: int, bar: float, unit: str = ""):
    half = stats.t.ppf(0.95, k - 1) * sd / math.sqrt(k)
    return decide_bounds(mean, mean - half, mean + half, bar, k=k, how="from the stored mean and sd", unit=unit)


def parse(nb: str, cid: str, ours: str, k_run: int):
    """The claim's decision from its stored text, or None when the text lacks what the rule needs."""
    bar = BARS.get((nb, cid))
    if bar is None:
        return None
    if nb == "00_sparsity_tour" and cid in ("T1", "T3"):
        m = re.search(rf"{NUM}% ± {NUM}% \(n=(\d+)\) vs \S+ {NUM}% ± {NUM}% \(n=\d+\); paired gap lower bound {NUM}", ours)
        mean = float(m[1]) - float(m[4])
        return interval(mean, mean - float(m[6]), int(m[3]), bar, "pts")
    if nb == "00_sparsity_tour" and cid == "T4":
        m = re.search(rf"dense {NUM}% ± {NUM}% \(n=(\d+)\); 90% global {NUM}% ± {NUM}% \(n=\d+\) \(lower bound {NUM}", ours)
        mean = float(m[4]) - float(m[1])
        return interval(mean, mean - float(m[6]), int(m[3]), bar, "pts")
    if nb == "01_lottery_tickets":
        m = re.search(rf"paired .*? {NUM} ± {NUM} (\S+) over (\d+) seeds", ours)
        return interval(float(m[1]), float(m[2]), int(m[4]), bar, m[3])
    if nb == "03_nm_sparsity" and cid in ("N1", "N2"):
        parts = re.findall(rf"(\d+:\d+) \S+ - \S+ {NUM} ± {NUM} (pts|SAD)", ours)
        return decide_every({p: interval(float(m), float(s), k_run, bar, u) for p, m, s, u in parts})
    if nb == "03_nm_sparsity" and cid in ("N3", "N4"):
        m = re.findall(rf"- \S+ {NUM} ± {NUM} pts", ours)[-1]
        return interval(float(m[0]), float(m[1]), k_run, bar, "pts")
    return None


def main() -> None:
    path = HERE / "aggregate.json"
    agg = json.loads(path.read_text())
    rows = []
    for nb, entry in agg["notebooks"].items():
        seeds = json.loads((HERE / nb / "seed0.json").read_text())["seeds"] if (HERE / nb / "seed0.json").exists() \
            else entry.get("seeds", [])
        for cid, cl in entry["claims"].items():
            old = cl.get("second_edition_verdict", cl["verdict"])
            ours = cl["ours"]["0"] if "0" in cl["ours"] else next(iter(cl["ours"].values()))
            d = parse(nb, cid, ours, len(seeds))
            if d is None and (nb, cid) in EXACT and old in ("reproduced", "not reproduced"):
                d = exact(old == "reproduced", reason="an exact rule in both editions")
            if d is None and old == "not tested":
                d = not_tested(ours.removeprefix("not tested: "))
            cl["second_edition_verdict"] = old
            if d is not None:
                cl.update(verdict=d.verdict, numbers=d.numbers(), decision=d.to_dict(), redecided=True)
            else:
                cl.update(redecided=False, note="second-edition rule: waits for a re-run of the full profile")
            rows.append([nb, cid, old, cl["verdict"] if d is not None else "waits for a re-run",
                         d.numbers() if d is not None else ours])
        if nb == "00_sparsity_tour":
            entry["note"] = "re-decided on base seed 0 only (base seeds 1 and 2 shared 7 of its 8 seeds)"
            entry["base_seeds"] = [0]
    path.write_text(json.dumps(agg, indent=2) + "\n")
    text = ["# The second edition's full results, re-decided by the interval rule", "",
            " ".join(__doc__.split("\n\n")[2].split()), "", "Reproduce: `python results/full/redecide_second_edition.py`.",
            "", *markdown_table(("notebook", "claim", "second edition", "interval rule", "numbers"), rows)]
    (HERE / "REDECIDED.md").write_text("\n".join(text) + "\n")


if __name__ == "__main__":
    main()
