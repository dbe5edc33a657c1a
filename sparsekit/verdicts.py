"""The one rule that decides every claim of every notebook: the interval rule (contract, third edition).

It lives in the library (the kernel benchmark decides its targets with it, and a researcher may
decide their own comparisons the same way); the course's claims and reports are built on it.

Before any result, a claim fixes its quantity, its bar, its number of paired seeds ``K`` and
``alpha = 0.05``. From the ``K`` paired differences ``d`` (or per-seed values) it computes the
one-sided bounds

    L = mean(d) - t(1 - alpha, K - 1) * s / sqrt(K),     U = mean(d) + t(1 - alpha, K - 1) * s / sqrt(K)

with ``s`` the standard deviation (ddof 1). A claim "at least ``bar``" is **reproduced** if
``L >= bar``, **not reproduced** if ``U < bar`` and **inconclusive** otherwise; "at most ``bar``"
mirrors it (reproduced if ``U <= bar``, not reproduced if ``L > bar``). With the true mean exactly
on the bar, each of the two decided verdicts comes out at most ``alpha`` of the time
(``tests/test_verdicts.py`` checks it by Monte Carlo); "inconclusive" says that ``K`` seeds could
not tell, which a short run often cannot.

- :func:`decide` - one interval claim; :func:`decide_every` - "in every part" (every part must be
  reproduced; any part not reproduced makes the claim not reproduced); :func:`verdict_of` - the
  three-way comparison itself, which :func:`decide_bounds` applies to bounds of another origin
  (a bootstrap over a table's rows);
- :func:`decide_within` - an equivalence claim ("within ``low`` and ``high``"): the two one-sided
  tests at once, reproduced if ``low <= L`` and ``U <= high``, not reproduced if the interval lies
  wholly outside the band, inconclusive otherwise;
- :func:`exact` - closed forms, counts, logged numbers, mask identity: their exact rule's outcome;
- :func:`not_tested` - decided before running, with the reason;
- :func:`pool` - one claim decided once on the distinct seeds of several base seeds;
- :func:`contradicts` - the compatibility rule: only reproduced against not reproduced is a contradiction.

Every :class:`Decision` prints its numbers as ``estimate [L, U] vs bar b (K=k)``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from sparsekit.checks import fraction, one_of

__all__ = ["ALPHA", "VERDICTS", "DIRECTIONS", "Decision", "bounds", "verdict_of", "decide", "decide_bounds",
           "decide_every", "decide_within", "exact", "not_tested", "pool", "contradicts", "fmt"]

ALPHA = 0.05
VERDICTS = ("reproduced", "inconclusive", "not reproduced", "not tested")
DIRECTIONS = ("at least", "at most")
RULES = ("interval", "every", "exact", "not tested")
WITHIN = "within"  # the reason an equivalence claim's "every" decision carries (printed as one band)


def fmt(x: float | None) -> str:
    """A number as the verdict lines print it: 3 significant digits, scientific when tiny or huge."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    if x == 0:
        return "0"
    if abs(x) < 1e-2 or abs(x) >= 1e5:
        return f"{x:.2e}"
    return f"{x:.3g}"


@dataclass(frozen=True)
class Decision:
    """A claim's verdict with the numbers that decided it (kept for pooling over base seeds)."""

    verdict: str
    rule: str
    estimate: float | None = None
    lower: float | None = None
    upper: float | None = None
    bar: float | None = None
    k: int | None = None
    direction: str | None = None
    alpha: float = ALPHA
    values: tuple[float, ...] = ()
    parts: tuple[tuple[str, Decision], ...] = field(default=())
    reason: str = ""
    unit: str = ""

    def __post_init__(self):
        one_of("verdict", self.verdict, VERDICTS)
        one_of("rule", self.rule, RULES)

    def numbers(self) -> str:
        """``estimate [L, U] vs bar b (K=k)``; for an "every" claim one such per part; for an exact
        claim its estimate against its bar; for a claim not tested, the reason."""
        u = f" {self.unit}" if self.unit else ""
        if self.rule == "interval":
            return f"{fmt(self.estimate)} [{fmt(self.lower)}, {fmt(self.upper)}]{u} vs bar {fmt(self.bar)} (K={self.k})"
        if self.rule == "every" and self.reason == WITHIN and len(self.parts) == 2:
            (_, lo), (_, hi) = self.parts
            return (f"{fmt(lo.estimate)} [{fmt(lo.lower)}, {fmt(lo.upper)}]{' ' + lo.unit if lo.unit else ''} "
                    f"within [{fmt(lo.bar)}, {fmt(hi.bar)}] (K={lo.k})")
        if self.rule == "every":
            return "; ".join(f"{name} {d.numbers()}" for name, d in self.parts)
        if self.rule == "exact":
            text = "exact rule" if self.estimate is None else f"exact: {fmt(self.estimate)}{u}"
            text += f" vs bar {fmt(self.bar)}" if self.bar is not None else ""
            return text + (f" ({self.reason})" if self.reason else "")
        return f"not tested: {self.reason}"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["parts"] = [[name, part.to_dict()] for name, part in self.parts]
        d["values"] = list(self.values)
        return d

    @classmethod
    def from_dict(cls, d: Mapping) -> Decision:
        d = dict(d)
        d["parts"] = tuple((name, cls.from_dict(p)) for name, p in d.get("parts", ()))
        d["values"] = tuple(float(v) for v in d.get("values", ()))
        return cls(**d)


def _values(values: Iterable[float], name: str = "values") -> np.ndarray:
    v = np.asarray([float(x) for x in values], dtype=float)
    if v.ndim != 1 or v.size < 2:
        raise ValueError(f"the interval rule needs at least 2 paired {name} (K >= 2), got {v.size}")
    if not np.all(np.isfinite(v)):
        raise ValueError(f"{name} must be finite numbers, got {v.tolist()}")
    return v


def bounds(values: Iterable[float], alpha: float = ALPHA) -> tuple[float, float, float]:
    """(mean, L, U): the mean and its one-sided ``1 - alpha`` bounds from Student's t with K - 1
    degrees of freedom. Identical values give L = U = mean.

    >>> [round(b, 3) for b in bounds([1.0, 2.0, 3.0])]
    [2.0, 0.314, 3.686]
    """
    from scipy import stats

    v = _values(values)
    a = fraction("alpha", alpha, low_open=True, high=0.5)
    k = v.size
    half = float(stats.t.ppf(1 - a, k - 1) * v.std(ddof=1) / math.sqrt(k))
    m = float(v.mean())
    return m, m - half, m + half


def decide(values: Iterable[float], bar: float, direction: str = "at least", alpha: float = ALPHA,
           unit: str = "") -> Decision:
    """The interval rule for "the quantity is ``direction`` ``bar``" over the K paired ``values``.

    >>> decide([1.0, 1.2, 0.9], 0.0).verdict
    'reproduced'
    >>> decide([1.0, -0.8, 0.9], 0.0).verdict
    'inconclusive'
    >>> decide([-1.0, -1.2, -0.9], 0.0).verdict
    'not reproduced'
    >>> decide([0.2, 0.3, 0.25], 1.0, direction="at most").numbers()
    '0.25 [0.166, 0.334] vs bar 1 (K=3)'
    """
    one_of("direction", direction, DIRECTIONS)
    v = _values(values)
    m, lo, hi = bounds(v, alpha)
    return Decision(verdict_of(lo, hi, bar, direction), "interval", m, lo, hi, float(bar), int(v.size), direction,
                    float(alpha), tuple(v.tolist()), unit=unit)


def verdict_of(lower: float, upper: float, bar: float, direction: str = "at least") -> str:
    """The three-way comparison at the heart of the rule, for one-sided bounds ``lower`` and ``upper``.

    >>> verdict_of(0.2, 0.9, 0.0), verdict_of(-0.2, 0.9, 0.0), verdict_of(-0.9, -0.2, 0.0)
    ('reproduced', 'inconclusive', 'not reproduced')
    """
    one_of("direction", direction, DIRECTIONS)
    if not lower <= upper:
        raise ValueError(f"need lower <= upper, got {lower} and {upper}")
    if direction == "at least":
        return "reproduced" if lower >= bar else "not reproduced" if upper < bar else "inconclusive"
    return "reproduced" if upper <= bar else "not reproduced" if lower > bar else "inconclusive"


def decide_bounds(estimate: float, lower: float, upper: float, bar: float, direction: str = "at least",
                  k: int | None = None, how: str = "", unit: str = "") -> Decision:
    """The same rule on bounds that do not come from paired seeds - a bootstrap over the graphs of
    a table, say (``how`` names it). Its verdict cannot be pooled over base seeds (no values)."""
    return Decision(verdict_of(float(lower), float(upper), float(bar), direction), "interval", float(estimate),
                    float(lower), float(upper), float(bar), k, direction, reason=how, unit=unit)


def decide_every(parts: Mapping[str, Decision]) -> Decision:
    """A claim that must hold in every part (every layer, every pattern, every shape): reproduced if
    every part is reproduced, not reproduced if any part is not reproduced, inconclusive otherwise
    (a part not tested makes the whole not tested)."""
    if not parts:
        raise ValueError("decide_every needs at least one part")
    for name, d in parts.items():
        if not isinstance(d, Decision):
            raise TypeError(f"part {name!r} must be a Decision (from decide or exact), got {type(d).__name__}")
    vs = [d.verdict for d in parts.values()]
    if "not tested" in vs:
        verdict = "not tested"
    elif "not reproduced" in vs:
        verdict = "not reproduced"
    elif all(v == "reproduced" for v in vs):
        verdict = "reproduced"
    else:
        verdict = "inconclusive"
    ks = {d.k for d in parts.values()}
    return Decision(verdict, "every", k=ks.pop() if len(ks) == 1 else None, parts=tuple(parts.items()))


def decide_within(values: Iterable[float], low: float, high: float, alpha: float = ALPHA,
                  unit: str = "") -> Decision:
    """An equivalence claim, "the quantity lies between ``low`` and ``high``", by two one-sided tests
    (TOST) at ``alpha``: the claim "at least ``low``" and the claim "at most ``high``" must both be
    reproduced; either not reproduced (the whole interval beyond one end) makes it not reproduced.

    >>> decide_within([0.1, -0.2, 0.05, 0.0], -1.0, 1.0).verdict
    'reproduced'
    >>> decide_within([3.0, 2.5, 2.8], -1.0, 1.0).verdict
    'not reproduced'
    >>> decide_within([0.9, -0.8, 2.0], -1.0, 1.0).verdict
    'inconclusive'
    >>> decide_within([0.1, -0.2, 0.05, 0.0], -1.0, 1.0).numbers()
    '-0.0125 [-0.167, 0.142] within [-1, 1] (K=4)'
    """
    if not float(low) < float(high):
        raise ValueError(f"an equivalence band needs low < high, got low={low!r}, high={high!r}")
    v = list(values)
    both = decide_every({f"at least {fmt(float(low))}": decide(v, low, "at least", alpha, unit),
                         f"at most {fmt(float(high))}": decide(v, high, "at most", alpha, unit)})
    return replace(both, reason=WITHIN)


def exact(ok: bool, estimate: float | None = None, bar: float | None = None, reason: str = "",
          unit: str = "") -> Decision:
    """The outcome of a claim with an exact rule (a closed form, a count, a logged number, an identity)."""
    if not isinstance(ok, (bool, np.bool_)):
        raise TypeError(f"ok must be True or False (the exact rule's outcome), got {ok!r}")
    return Decision("reproduced" if ok else "not reproduced", "exact",
                    None if estimate is None else float(estimate), bar=None if bar is None else float(bar),
                    reason=reason, unit=unit)


def not_tested(reason: str) -> Decision:
    """A claim this profile or machine cannot test, decided before running; ``reason`` says why."""
    if not reason:
        raise ValueError("a claim not tested must say why (decided before running)")
    return Decision("not tested", "not tested", reason=reason)


def pool(decisions: Sequence[Decision]) -> Decision:
    """One claim decided once on everything several runs (base seeds) measured: an interval claim on
    the concatenated values with its own bar, direction and alpha; an "every" claim part by part; an
    exact claim reproduced only if it was in every run that tested it (not reproduced if it failed
    in any). The runs must hold *distinct* seeds (the caller checks); every run must use the same rule."""
    ds = list(decisions)
    if not ds:
        raise ValueError("nothing to pool")
    if len(ds) == 1:
        return ds[0]
    tested = [d for d in ds if d.rule != "not tested"]
    if not tested:
        return ds[0]
    rules = {d.rule for d in tested}
    if len(rules) != 1:
        raise ValueError(f"the runs decided this claim by different rules ({sorted(rules)}): re-run them alike")
    rule = rules.pop()
    if rule == "interval":
        keys = {(d.bar, d.direction, d.alpha) for d in tested}
        if len(keys) != 1:
            raise ValueError(f"the runs used different bars or directions ({sorted(map(str, keys))}): not poolable")
        bar, direction, alpha = keys.pop()
        if any(not d.values for d in tested) or bar is None or direction is None:
            raise ValueError("a run kept no per-seed values: it cannot be pooled, only shown")
        return decide([v for d in tested for v in d.values], bar, direction, alpha, tested[0].unit)
    if rule == "every" and all(d.reason == WITHIN for d in tested):
        (_, lo), (_, hi) = tested[0].parts
        if lo.bar is None or hi.bar is None:
            raise ValueError("an equivalence claim kept no band: it cannot be pooled, only shown")
        return decide_within([v for d in tested for v in d.parts[0][1].values], lo.bar, hi.bar, lo.alpha, lo.unit)
    if rule == "every":
        names = [n for n, _ in tested[0].parts]
        if any([n for n, _ in d.parts] != names for d in tested):
            raise ValueError("the runs' parts differ: not poolable")
        return decide_every({n: pool([dict(d.parts)[n] for d in tested]) for n in names})
    ok = all(d.verdict == "reproduced" for d in tested)
    return exact(ok, reason=f"{sum(d.verdict == 'reproduced' for d in tested)} of {len(tested)} runs reproduced it")


def contradicts(a: str, b: str) -> bool:
    """Whether two verdicts of one claim contradict: reproduced against not reproduced. Inconclusive
    or not tested beside either is compatible (a short or different run may not decide)."""
    for v in (a, b):
        one_of("verdict", v, VERDICTS)
    return {a, b} == {"reproduced", "not reproduced"}
