"""Notebook 02's study code: the negatives' profile against hand counts, the rules R1-R4, R6-R10,
X2 and X3 fed counter-examples (each must be able to say "not reproduced"), the retraining
variants and their controls, the last-two-symbols comparator, the thesis's graphs against its own
results table, the retraining of its pruned models, and the process-parallel map."""

import numpy as np
import pandas as pd
import pytest
import torch

from sparsekit.data.reber import accepts, make_reber
from sparsekit.rnn import CELLS, RNNClassifier, graph_properties
from sparsekit.studies.rnn_pruning import graphs as rg
from sparsekit.studies.rnn_pruning import own as rs
from sparsekit.studies.rnn_pruning.data import load_thesis_graphs, load_thesis_structure
from sparsekit.studies.rnn_pruning.thesis import recovery_agrees, retrain_like_thesis, thesis_masks
from sparsekit.utils import parallel_map


def test_first_failure_on_hand_cases():
    assert rs.first_failure("BTSXSE") == -1  # valid
    assert rs.first_failure("TB") == 0  # must start with B
    assert rs.first_failure("BTXA") == 3  # A is no letter of the grammar
    assert rs.first_failure("BTSX") == 4  # every symbol fits, the string stops early
    assert rs.first_failure("BTXSEE") == 5  # goes on after the final E
    data = make_reber(200, 10, seed=1)
    for s, y in zip(data.train, data.y_train):
        assert (rs.first_failure(s) == -1) == accepts(s) == bool(y)


def test_negatives_profile_on_a_hand_made_set():
    train = ["BTSXSE", "BTSXXTVVE", "AB", "BTXZ", "BP"]
    y = [1, 1, 0, 0, 0]
    prof = rs.negatives_profile(train, y, ["BTSXSE", "AB", "QQQQQQ"], [1, 0, 1])
    assert prof["fail_within_3"] == pytest.approx(2 / 3)  # AB at 0, BP at 2 (stops early: 2 < 3), BTXZ at 3
    assert prof["foreign_letters"] == pytest.approx(2 / 3)  # AB, BTXZ
    # lengths 6 -> valid, 2 -> invalid; length 6 "QQQQQQ" is guessed valid: all three right
    assert prof["length_only_accuracy"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="no invalid string"):
        rs.negatives_profile(["BTSXSE"], [1], ["BTSXSE"], [1])


def own_rows(drop=0.0, fall=0.3, back=0.0, gated=0.99, plain=0.52, seeds=(0, 1, 2), fresh_gap=0.05,
             exact=0.51, last_two=0.52):
    rows = []
    for s in seeds:
        for c in CELLS:
            base = 0.99
            key = dict(seed=s, cell=c, base=base, variant="pruned")
            rows.append(dict(key, kind="none", prune=0, epoch=0, acc=base))
            for p in (10, 30, 60, 70):
                rows.append(dict(key, kind="both", prune=p, epoch=0, acc=base - (drop if p == 60 else 0.0)))
            rows.append(dict(key, kind="both", prune=90, epoch=0, acc=base - fall))
            rows.append(dict(key, kind="both", prune=90, epoch=1, acc=base - back))
            rows.append(dict(key, kind="both", prune=90, epoch=1, acc=base - back - fresh_gap, variant="fresh"))
            after = gated if c in ("gru", "lstm") else plain
            rows.append(dict(key, kind="h2h", prune=100, epoch=0, acc=0.5))
            rows.append(dict(key, kind="h2h", prune=100, epoch=1, acc=after, last_two_acc=last_two,
                             agree_last_two=0.9))
            if c in ("gru", "lstm"):
                rows.append(dict(key, kind="h2h", prune=100, epoch=1, acc=after - fresh_gap, variant="fresh"))
            else:
                rows.append(dict(key, kind="h2h", prune=100, epoch=1, acc=exact, variant="exact"))
                rows.append(dict(key, kind="h2h", prune=100, epoch=1, acc=exact, variant="padded"))
    return pd.DataFrame(rows)


V = lambda pair: pair[0].verdict  # noqa: E731


def test_rule_r1_can_fail():
    assert V(rs.keeps_base(own_rows())) == "reproduced"
    dec, worst = rs.keeps_base(own_rows(drop=0.011))
    assert dec.verdict == "not reproduced" and worst.max() == pytest.approx(0.011)
    assert V(rs.keeps_base(own_rows(drop=0.0099))) == "reproduced"
    noisy = own_rows()
    at60 = (noisy.kind == "both") & (noisy.prune == 60) & (noisy.cell == "gru")
    noisy.loc[at60, "acc"] -= np.array([0.0, 0.02, 0.0])  # one seed of one cell drops 2 points
    assert V(rs.keeps_base(noisy)) == "inconclusive"
    with pytest.raises(ValueError, match="lacks the columns"):
        rs.keeps_base(own_rows().drop(columns="base"))


def test_rule_r2_can_fail():
    assert V(rs.falls_and_recovers(own_rows())) == "reproduced"
    assert V(rs.falls_and_recovers(own_rows(fall=0.005))) == "not reproduced"  # nothing fell
    assert V(rs.falls_and_recovers(own_rows(back=0.03))) == "not reproduced"  # not back within 2 points
    one_slow = own_rows()
    one_slow.loc[(one_slow.kind == "both") & (one_slow.epoch == 1) & (one_slow.seed == 2) & (one_slow.cell == "gru"),
                 "acc"] = 0.9
    assert V(rs.falls_and_recovers(one_slow)) == "inconclusive"  # one seed of nine points: K=3 cannot tell


def test_rule_r3_can_fail():
    assert V(rs.gated_contrast(own_rows())) == "reproduced"
    assert V(rs.gated_contrast(own_rows(gated=0.94))) == "not reproduced"
    assert V(rs.gated_contrast(own_rows(plain=0.61))) == "not reproduced"
    with pytest.raises(ValueError, match="rnn_relu"):
        rs.gated_contrast(own_rows()[lambda d: d.cell != "rnn_relu"])


def graphs_table(slope_src=0.02, slope_clo=-6.0, ws_gain=0.05, n=40, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for kind in ("ba", "ws"):
        for _ in range(n):
            src = rng.integers(1, 10)
            clo = rng.uniform(0, 0.02)
            acc = 0.8 + slope_src * src + slope_clo * clo + (ws_gain if kind == "ws" else 0) + rng.normal(0, 0.01)
            rows.append(dict(kind=kind, source_nodes=src, closeness_var=clo, acc=acc))
    return pd.DataFrame(rows)


def test_rule_r4_can_fail():
    assert V(rg.graph_trends(graphs_table(), n_boot=300)) == "reproduced"
    assert V(rg.graph_trends(graphs_table(ws_gain=-0.05), n_boot=300)) == "not reproduced"
    assert V(rg.graph_trends(graphs_table(slope_src=0.0, ws_gain=0.0), n_boot=300)) in ("inconclusive",
                                                                                       "not reproduced")
    assert V(rg.graph_trends(graphs_table(slope_clo=6.0), n_boot=300)) == "not reproduced"
    ok, est = rg.graph_trends(graphs_table(), n_boot=300)
    assert est["ws_minus_ba"][1] <= est["ws_minus_ba"][0] <= est["ws_minus_ba"][2]
    with pytest.raises(ValueError, match="at least 3 graphs"):
        rg.graph_trends(graphs_table(n=2), n_boot=10)


def test_our_construction_gives_the_thesis_graph_table():
    for cell in ("gru", "rnn_tanh"):
        table = rg.thesis_graph_table(cell)
        assert len(table) == 200 and table.same.all(), table[~table.same][["graph", "graph_nr"]]
        assert set(table.kind) == {"ba", "ws"}
    graphs = load_thesis_graphs("lstm")
    row = load_thesis_structure("lstm").iloc[7]
    mine = graph_properties(graphs[f"{row.graph}_{int(row.graph_nr)}"])
    assert mine["closeness_var"] == pytest.approx(row.closeness_var, rel=1e-9)  # ddof=1, as the thesis
    assert mine["density"] == pytest.approx(row.density, rel=1e-9)  # of the DAG
    with pytest.raises(ValueError, match="cell must be one of"):
        load_thesis_graphs("transformer")


def test_thesis_masks_pool_the_selected_kind():
    model = RNNClassifier("gru", hidden=4, num_layers=2, embed=3)
    masks = thesis_masks(model, 50, "h2h")
    assert sorted(masks) == ["rnn.weight_hh_l0", "rnn.weight_hh_l1"]
    pooled = torch.cat([p.detach().abs().flatten() for n, p in model.named_parameters() if n in masks])
    tau = np.percentile(pooled.numpy(), 50)
    for n, m in masks.items():
        assert torch.equal(m, dict(model.named_parameters())[n].detach().abs() >= float(tau))
    with pytest.raises(ValueError, match="kind must be one of"):
        thesis_masks(model, 50, "hidden")


def test_retraining_the_thesis_model_keeps_its_mask_and_logs_each_epoch():
    rows = retrain_like_thesis("rnn_tanh", "h2h", 100, epochs=1, seed=0, shuffles=(0,))
    assert [r["epoch"] for r in rows] == [0, 1]
    assert rows[0]["thesis"] == pytest.approx(0.49424, abs=1e-4)  # its log's epoch-0 row
    assert all(0 <= r["ours"] <= 1 for r in rows)
    with pytest.raises(ValueError, match="no rows"):
        retrain_like_thesis("rnn_tanh", "h2h", 95)
    table = pd.DataFrame(rows)
    assert recovery_agrees(table.assign(ours_min=table.thesis, ours_max=table.thesis)).all()
    assert not recovery_agrees(table.assign(ours_min=table.thesis + 0.031, ours_max=table.thesis + 0.05)).any()


def test_own_study_rows_cover_every_level_and_keep_masks():
    rows = pd.DataFrame(rs.own_study("rnn_relu", 0, "one_edit", 1, (("h2h", 100, 1),), n_train=64, n_test=32,
                                     levels=(50, 100)))
    assert set(rows.kind) == {"none", "i2h", "h2h", "both"}
    assert len(rows[rows.epoch == 0]) == 1 + 3 * 2
    assert rows[(rows.epoch == 1)].prune.tolist() == [100]
    with pytest.raises(ValueError, match="name must be one of"):
        rs.study_data("imdb")


def _square(a, b):
    return a * a + b


def test_parallel_map_keeps_order_on_one_or_two_processes():
    jobs = [(i, 1) for i in range(5)]
    assert parallel_map(_square, jobs, workers=1, show_progress=False) == [1, 2, 5, 10, 17]
    assert parallel_map(_square, jobs, workers=2, show_progress=False) == [1, 2, 5, 10, 17]
    threads = torch.get_num_threads()
    parallel_map(_square, jobs[:1], workers=1, show_progress=False)
    assert torch.get_num_threads() == threads
    with pytest.raises(ValueError, match="workers must be a positive integer"):
        parallel_map(_square, jobs, workers=0)


def test_parallel_map_runs_costly_jobs_first_and_keeps_order():
    jobs = [(i, 0) for i in range(6)]
    got = parallel_map(_square, jobs, workers=2, show_progress=False, cost=lambda job: job[0] % 3)
    assert got == [i * i for i in range(6)]


def test_rules_r8_r9_x2_x3_can_fail():
    plain = ("rnn_tanh", "rnn_relu")
    assert V(rs.gated_contrast(own_rows(), variant="exact", cells=plain)) == "reproduced"
    assert V(rs.gated_contrast(own_rows(exact=0.7), variant="padded", cells=plain)) == "not reproduced"
    with pytest.raises(ValueError, match="lack fresh retraining"):
        rs.gated_contrast(own_rows(), variant="fresh", cells=plain)
    with pytest.raises(ValueError, match="variant must be one of"):
        rs.gated_contrast(own_rows(), variant="dense")
    assert V(rs.recovers_not_relearns(own_rows())) == "reproduced"
    assert V(rs.recovers_not_relearns(own_rows(fresh_gap=0.0))) == "not reproduced"  # fresh does as well
    assert V(rs.recovers_not_relearns(own_rows(), "h2h", 100, cells=("gru", "lstm"))) == "reproduced"
    with pytest.raises(ValueError, match="lack pruned and fresh"):
        rs.recovers_not_relearns(own_rows(), "h2h", 100)  # the plain cells have no fresh control there
    assert V(rs.no_more_than_last_two(own_rows())) == "reproduced"
    assert V(rs.no_more_than_last_two(own_rows(plain=0.78, last_two=0.7))) == "not reproduced"
    with pytest.raises(ValueError, match="lacks the columns"):
        rs.no_more_than_last_two(own_rows().drop(columns="last_two_acc"))


def test_rule_r10_can_fail():
    def rows(long_drop, seeds=(0, 1, 2)):
        out = []
        for s in seeds:
            for n, drop in ((1, 0.10), (10, long_drop)):
                key = dict(seed=s, cell="gru", base=0.99, trained=n, epoch=0)
                out.append(dict(key, kind="none", prune=0, acc=0.99))
                out += [dict(key, kind="both", prune=p, acc=0.99 - drop * p / 60) for p in (20, 40, 60)]
        return pd.DataFrame(out)

    assert V(rs.longer_training_tolerates(rows(0.0))) == "reproduced"
    assert V(rs.longer_training_tolerates(rows(0.10))) == "not reproduced"
    dec, drops = rs.longer_training_tolerates(rows(0.02))
    assert drops.loc[("gru", 0), 1] == pytest.approx(0.10) and drops.loc[("gru", 0), 10] == pytest.approx(0.02)
    with pytest.raises(ValueError, match="trained 1 and 5"):
        rs.longer_training_tolerates(rows(0.0), 1, 5)


def test_last_two_guess_is_the_majority_of_each_ending():
    from sparsekit.data.reber import encode
    train = ["BTXE", "BPXE", "BTVE", "BPVE", "BPVE", "BSE"]
    y = torch.tensor([1, 1, 0, 0, 1, 1])
    xtr, ltr = encode(train)
    xte, lte = encode(["BXE", "BVE", "BSE", "BQE"])
    # endings XE: 1, 1 -> 1; VE: 0, 0, 1 -> 0; SE: 1; QE never seen -> the overall majority, 1
    assert rs.last_two_guess(xtr, ltr, y, xte, lte).tolist() == [1, 0, 1, 1]
    prof = rs.negatives_profile(train, y, ["BXE", "BVE"], [1, 0])
    assert prof["last_two_accuracy"] == 1.0


def test_thesis_masks_exact_count():
    model = RNNClassifier("rnn_tanh", hidden=6, num_layers=2, embed=3)
    for percent in (0, 30, 50, 90):
        masks = thesis_masks(model, percent, "h2h", count="exact")
        kept = sum(int(m.sum()) for m in masks.values())
        assert kept == 72 - round(percent / 100 * 72)
    assert sum(int(m.sum()) for m in thesis_masks(model, 100, "h2h", count="exact").values()) == 0
    assert sum(int(m.sum()) for m in thesis_masks(model, 100, "h2h").values()) >= 1  # the thesis's rule keeps one
    with pytest.raises(ValueError, match="count must be one of"):
        thesis_masks(model, 50, "h2h", count="round")


def test_own_study_variants_share_the_base_and_differ_in_what_they_retrain():
    retrain = (("h2h", 100, 1), ("h2h", 100, 1, "exact"), ("h2h", 100, 1, "padded"), ("h2h", 100, 1, "fresh"))
    rows = pd.DataFrame(rs.own_study("rnn_tanh", 1, "thesis", 1, retrain, n_train=96, n_test=48, levels=(100,)))
    after = rows[rows.epoch == 1].set_index("variant")
    assert sorted(after.index) == sorted(rs.VARIANTS)
    inside = after.loc["pruned"]
    assert inside.kept.startswith("rnn.weight_hh_l") and 0 <= inside.agree_last_two <= 1
    assert 0 <= inside.acc_without_kept <= 1 and 0 <= inside.last_two_acc <= 1
    again = pd.DataFrame(rs.own_study("rnn_tanh", 1, "thesis", 1, retrain[:1], n_train=96, n_test=48, levels=(100,)))
    assert again[again.epoch == 1].acc.item() == pytest.approx(inside.acc)  # variants do not disturb each other
    with pytest.raises(ValueError, match="variant must be one of"):
        rs.own_study("rnn_tanh", 1, "thesis", 1, (("h2h", 100, 1, "dense"),), n_train=32, n_test=16)


def test_length_study_after_n_passes_is_own_studys_base_model():
    rows = pd.DataFrame(rs.length_study("rnn_relu", 2, (1, 2), n_train=64, n_test=48, levels=(30, 60)))
    assert sorted(set(rows.trained)) == [1, 2] and len(rows) == 2 * 3
    for n in (1, 2):
        own = pd.DataFrame(rs.own_study("rnn_relu", 2, "thesis", n, (), n_train=64, n_test=48, levels=(30, 60)))
        mine = rows[rows.trained == n].set_index(["kind", "prune"]).acc
        theirs = own[own.kind.isin(["none", "both"])].set_index(["kind", "prune"]).acc
        assert mine.to_dict() == pytest.approx(theirs.to_dict())
    with pytest.raises(ValueError, match="lengths must be positive"):
        rs.length_study("gru", 0, (0, 2))


def test_within_generator_correlations_and_the_forest():
    graphs = graphs_table(n=40)
    within = rg.within_generator(graphs)
    ws = graphs[graphs.kind == "ws"]
    assert within.loc["ws", "corr(accuracy, source nodes)"] == pytest.approx(ws.acc.corr(ws.source_nodes))
    assert within.loc["both", "graphs"] == 80
    props = ("source_nodes", "closeness_var")
    r2 = rg.forest_r2(graphs, splits=5, properties=props)
    assert len(r2) == 5 and np.median(r2) > 0.5  # accuracy is a function of the two properties plus noise
    noise = graphs.assign(acc=np.random.default_rng(1).normal(size=len(graphs)))
    assert np.median(rg.forest_r2(noise, splits=5, properties=props)) < 0.2
    assert rg.forest_agrees({"gru": r2}, {"gru": float(np.median(r2))}).verdict == "reproduced"
    assert rg.forest_agrees({"gru": r2}, {"gru": 1.5}).verdict == "not reproduced"
    with pytest.raises(ValueError, match="graphs lacks the columns"):
        rg.forest_r2(graphs.drop(columns="acc"), splits=2, properties=props)
