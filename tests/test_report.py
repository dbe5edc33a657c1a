import configparser
import io
import json
import re
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from sparsekit.course.report import Report, check_profile, fmt_num, load_results, mean_std
from sparsekit.verdicts import decide, decide_every, exact, not_tested


def test_report_roundtrip_keeps_the_numbers_as_data(tmp_path, capsys):
    r = Report("99_demo", "quick", seeds=[0, 1, 2])
    r.add("A1", "a claim", paper="1.0", ours="0.9", verdict=exact(False, 0.9, 1.0))
    r.add("A2", "another", paper="x", ours="the profile cannot", verdict=None)
    r.add("A3", "third", paper="x", ours="x", verdict=decide([1.0, 1.5, 1.2], 0.5, unit="pts"))
    path = r.save(tmp_path)
    d = json.loads(path.read_text())
    assert d["notebook"] == "99_demo" and d["profile"] == "quick" and d["seeds"] == [0, 1, 2]
    assert {"python", "torch", "numba"} <= set(d["versions"])
    assert [c["verdict"] for c in d["claims"]] == ["not reproduced", "not tested", "reproduced"]
    a3 = d["claims"][2]
    assert a3["estimate"] == pytest.approx(1.2333, abs=1e-3) and a3["k"] == 3 and a3["bar"] == 0.5
    assert a3["lower"] < a3["estimate"] < a3["upper"] and a3["decision"]["values"] == [1.0, 1.5, 1.2]
    assert d["runtime_s"] >= 0
    assert load_results(tmp_path)[0]["notebook"] == "99_demo"
    r.print_verdicts()
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "A1: not reproduced - a claim - exact: 0.9 vs bar 1"
    assert out[1] == "A2: not tested - another - not tested: the profile cannot"
    assert out[2].startswith("A3: reproduced - third - 1.23 [") and out[2].endswith("] pts vs bar 0.5 (K=3)")
    assert "estimate [L, U] vs bar (K)" in r.table().columns


def test_report_errors():
    with pytest.raises(ValueError, match="PROFILE must be one of"):
        Report("x", "medium", [0])
    r = Report("x", "quick", [0])
    r.add("A", "s", "p", "o", True)
    with pytest.raises(ValueError, match="already"):
        r.add("A", "s", "p", "o", True)
    with pytest.raises(TypeError, match="verdict must be a Decision"):
        r.add("B", "s", "p", "o", "maybe")
    assert check_profile("full") == "full"


def test_mean_std_and_fmt():
    assert mean_std([1.0, 3.0]) == "2.0 ± 1.4 (n=2)"
    assert mean_std([2.0]) == "2.0 (n=1)"
    assert mean_std([]) == "n/a"
    assert fmt_num(8.3758e-13) == "8.38e-13"
    assert fmt_num(0.04741) == "0.0474"


def sanitized(decision, timed=False) -> str:
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(Path(__file__).with_name("nbval_sanitize.cfg"))
    subs = [(re.compile(cfg[s]["regex"]), cfg[s]["replace"]) for s in cfg.sections()]
    r = Report("00_demo", "quick", [0])
    r.add("K1", "at least 2x faster", paper="2x", ours="1x", verdict=decision, timed=timed)
    buf = io.StringIO()
    with redirect_stdout(buf):
        r.print_verdicts()
    text = buf.getvalue()
    for rx, rep in subs:
        text = rx.sub(rep, text)
    return text


def test_nbval_compares_each_line_without_its_verdict_and_measured_numbers():
    """The sanitizer masks the verdict word and the estimate with its bounds (they move with the
    machine; `sparsekit.course.compare` judges the verdicts after nbval), but keeps the id, the
    statement, the bar and K, so a changed rule still fails nbval."""
    a, b = decide([2.1, 2.3, 2.2], 2.0), decide([1.1, 1.3, 1.2], 2.0)
    assert a.verdict != b.verdict and sanitized(a) == sanitized(b) == sanitized(a, timed=False)
    assert sanitized(a) == "K1: VERDICT - at least 2x faster - EST [L, U] vs bar 2 (K=3)\n"
    assert sanitized(decide([2.1, 2.3, 2.2], 1.5)) != sanitized(a)  # another bar: nbval fails
    assert sanitized(decide([2.1, 2.3, 2.2, 2.0], 2.0)) != sanitized(a)  # another K: nbval fails
    assert sanitized(exact(True, 124, 124)) == sanitized(exact(False, 120, 124))
    assert sanitized(not_tested("no GPU")) != sanitized(not_tested("no data"))
    every = decide_every({"2:4": a, "1:4": b})
    assert sanitized(every).endswith("2:4 EST [L, U] vs bar 2 (K=3); 1:4 EST [L, U] vs bar 2 (K=3)\n")
