import json

import numpy as np
import pandas as pd
import pytest

from sparsekit.course.report import Report, check_profile, fmt_num, load_results, mean_std, seed_spread, verdict


def test_verdict_mapping():
    assert verdict(True) == "reproduced"
    assert verdict(False) == "not reproduced"
    assert verdict(None) == "not tested"


def test_report_roundtrip(tmp_path, capsys):
    r = Report("99_demo", "quick", seeds=[0, 1])
    r.add("A1", "a claim", paper="1.0", ours="0.9", verdict=False)
    r.add("A2", "another", paper="x", ours="-", verdict=None)
    r.add("A3", "third", paper="x", ours="x", verdict="reproduced")
    path = r.save(tmp_path)
    d = json.loads(path.read_text())
    assert d["notebook"] == "99_demo" and d["profile"] == "quick" and d["seeds"] == [0, 1]
    assert {"python", "torch", "numba"} <= set(d["versions"])
    assert [c["verdict"] for c in d["claims"]] == ["not reproduced", "not tested", "reproduced"]
    assert d["runtime_s"] >= 0
    assert load_results(tmp_path)[0]["notebook"] == "99_demo"
    r.print_verdicts()
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "A1: not reproduced - a claim"
    assert list(r.table().columns) == ["id", "statement", "paper", "ours", "verdict"]


def test_report_errors():
    with pytest.raises(ValueError, match="PROFILE must be one of"):
        Report("x", "medium", [0])
    r = Report("x", "quick", [0])
    r.add("A", "s", "p", "o", True)
    with pytest.raises(ValueError, match="already"):
        r.add("A", "s", "p", "o", True)
    with pytest.raises(ValueError, match="verdict must be one of"):
        r.add("B", "s", "p", "o", "maybe")
    assert check_profile("full") == "full"


def test_mean_std_and_fmt():
    assert mean_std([1.0, 3.0]) == "2.0 ± 1.4 (n=2)"
    assert mean_std([2.0]) == "2.0 (n=1)"
    assert mean_std([]) == "n/a"
    assert fmt_num(8.3758e-13) == "8.38e-13"
    assert fmt_num(0.04741) == "0.0474"


def test_seed_spread_is_the_largest_sample_std():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=5), rng.normal(scale=3, size=4)
    assert seed_spread(a, b) == pytest.approx(max(np.std(a, ddof=1), np.std(b, ddof=1)))
    assert seed_spread(pd.Series(a), list(b), floor=100.0) == 100.0
    assert seed_spread([2.0], [5.0], floor=0.3) == 0.3  # one seed: no spread to measure, the floor stands
    assert seed_spread(floor=0.5) == 0.5


def test_holds_beyond_spread_can_fail_and_pass():
    from sparsekit.course.report import holds_beyond_spread, lower_bound

    assert holds_beyond_spread([3.0, 3.2, 2.9], 0.0)
    assert not holds_beyond_spread([3.0, -3.2, 2.9], 0.0)  # one seed reverses: spread swallows the mean
    assert not holds_beyond_spread([-0.1, -0.2, -0.3], 0.0)
    assert holds_beyond_spread([-0.5, -0.4, -0.6], -1.0) and not holds_beyond_spread([-0.5, -1.4, -0.6], -1.0)
    assert lower_bound([1.0, 3.0]) == pytest.approx(2.0 - 2**0.5)
    with pytest.raises(ValueError, match="at least 2 paired seeds"):
        lower_bound([1.0])


def test_ci_compares_timed_verdict_lines_without_their_verdict():
    """nbval's sanitizer blanks the verdict of a timed claim (a test never asserts a speed) and leaves
    every other verdict line as it is."""
    import configparser
    import io
    import re
    from contextlib import redirect_stdout
    from pathlib import Path

    from sparsekit.course.report import Report

    cfg = configparser.ConfigParser()
    cfg.read(Path(__file__).with_name("nbval_sanitize.cfg"))
    subs = [(re.compile(cfg[s]["regex"]), cfg[s]["replace"]) for s in cfg.sections()]

    def shown(verdict, timed):
        r = Report("00_demo", "quick", [0])
        r.add("K1", "fast", paper="2x", ours="1x", verdict=verdict, timed=timed)
        buf = io.StringIO()
        with redirect_stdout(buf):
            r.print_verdicts()
        text = buf.getvalue()
        for rx, rep in subs:
            text = rx.sub(rep, text)
        return text

    assert shown(True, True) == shown(False, True) == shown(None, True)
    assert shown(True, False) != shown(False, False)  # an untimed verdict is still compared
