import networkx as nx
import numpy as np
import pytest
import torch

from sparsekit.data.reber import accepts, corrupt, encode, make_reber, random_valid
from sparsekit.prune import Pruner
from sparsekit.rnn import (
    GraphRNN,
    RNNClassifier,
    barabasi_albert,
    dag_from_graph,
    graph_properties,
    last_outputs,
    layer_index,
    random_graph,
    recurrent_weights,
)


def test_acceptor_on_known_strings():
    for s in ("BTXSE", "BPVVE", "BPTVPSE", "BTSSXXTVVE", "BPTTTVPXVVE"):
        assert accepts(s), s
    for s in ("", "BE", "TXSE", "BTXS", "BTXSEE", "BTTXSE", "BPVE", "BTXAE"):
        assert not accepts(s), s


def test_generated_data_is_valid_balanced_and_disjoint():
    d = make_reber(600, 200, seed=3)
    strings = d.train + d.test
    labels = torch.cat([d.y_train, d.y_test]).tolist()
    for s, y in zip(strings, labels):
        assert accepts(s) == bool(y)  # every valid string accepted, every invalid one rejected
        assert 11 <= len(s) <= 53
    assert sum(labels) == 400
    assert not set(d.train) & set(d.test)
    again = make_reber(600, 200, seed=3)
    assert again.train == d.train


def osa_distance(a: str, b: str) -> int:
    """Optimal-string-alignment distance (edits: substitute, insert, delete, swap adjacent), by DP."""
    d = [[i + j if i * j == 0 else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[-1][-1]


def test_osa_distance_oracle():
    assert osa_distance("BTXSE", "BTXSE") == 0 and osa_distance("BTXSE", "BXTSE") == 1
    assert osa_distance("BTXSE", "BTSE") == 1 and osa_distance("BTXSE", "BTXXSE") == 1
    assert osa_distance("BTXSE", "PVVE") == 4


def test_random_walk_and_corruption():
    rng = np.random.default_rng(0)
    changed = 0
    for _ in range(200):
        s = random_valid(rng)
        assert accepts(s)
        c = corrupt(s, rng)
        assert osa_distance(c, s) <= 1, (s, c)  # one substitution, insertion, deletion or adjacent swap
        changed += c != s
    # about 15% come back unchanged (a swap at the last symbol or of equal neighbours, a letter replacing
    # itself); make_reber drops those because they are valid. Most calls must change the string.
    assert changed >= 150
    with pytest.raises(ValueError, match="n_train"):
        make_reber(1, 10)


def test_encode_pads_with_zero():
    x, lengths = encode(["BTXSE", "BPVVE", "BTSSXXTVVE"])
    assert x.shape == (3, 10) and lengths.tolist() == [5, 5, 10]
    assert x[0, 5:].eq(0).all() and x[0, 0] == ord("B")


@pytest.mark.parametrize("cell", ["rnn_tanh", "rnn_relu", "gru", "lstm"])
def test_classifier_reads_true_last_step(cell):
    torch.manual_seed(0)
    model = RNNClassifier(cell, hidden=8, num_layers=2, embed=6)
    x, lengths = encode(["BTXSE", "BTSSXXTVVE"])
    out = model(x, lengths)
    alone = model(x[:1, :5], lengths[:1])  # the same string without padding
    torch.testing.assert_close(out[:1], alone)


def test_recurrent_weight_selection():
    model = RNNClassifier("lstm", hidden=4, num_layers=3, embed=3)
    assert recurrent_weights(model, "i2h") == [f"rnn.weight_ih_l{i}" for i in range(3)]
    assert recurrent_weights(model, "h2h") == [f"rnn.weight_hh_l{i}" for i in range(3)]
    assert len(recurrent_weights(model, "both")) == 6
    with pytest.raises(ValueError, match="mode"):
        recurrent_weights(model, "x2y")


def test_last_outputs():
    out = torch.arange(24.0).view(2, 3, 4)
    torch.testing.assert_close(last_outputs(out, torch.tensor([1, 3])), torch.stack([out[0, 0], out[1, 2]]))


def test_dag_layers_longest_path():
    g = nx.Graph([(0, 1), (1, 2), (0, 2), (2, 3), (0, 3)])
    dag = dag_from_graph(g)
    assert nx.is_directed_acyclic_graph(dag)
    assert set(dag.edges) == {(0, 1), (1, 2), (0, 2), (2, 3), (0, 3)}
    assert layer_index(dag) == {0: 0, 1: 1, 2: 2, 3: 3}


def test_graph_rnn_masks_follow_edges_and_survive_training():
    g = nx.Graph([(0, 1), (0, 2), (1, 3), (2, 3), (0, 3), (1, 4)])
    torch.manual_seed(0)
    model = GraphRNN(g, "gru")
    # layers: {0}, {1, 2}, {3, 4}; the edge 0-3 skips a layer
    assert model.layer_sizes == [1, 2, 2]
    assert model.skip_pairs == [(0, 2)]
    m = model.masks()["layers.2.weight_ih_l0"][:2]  # first gate block: rows = layer 2 nodes {3, 4}
    assert m.tolist() == [[True, True], [True, False]]  # 3 <- 1, 2; 4 <- 1
    pr = Pruner(model, list(model.masks()), model.masks())
    opt = pr.attach(torch.optim.Adam(model.parameters(), lr=0.05))
    x, lengths = encode(["BTXSE", "BPVVE"])
    for _ in range(5):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x, lengths), torch.tensor([1, 0])).backward()
        opt.step()
    params = dict(model.named_parameters())
    for name, mask in model.masks().items():
        assert (params[name][~mask] == 0).all()
    assert model.n_weights() == 3 * (5 + 1)  # GRU: 3 gate blocks x (masked edges + the skip edge)


def test_graph_generators_and_properties():
    ba = random_graph("ba", 30, seed=1)
    ws = random_graph("ws", 30, seed=1)
    assert ba.number_of_nodes() == 30 and nx.is_connected(ws)
    assert ba.number_of_edges() == (30 - 3) * 3  # m = 3
    p = graph_properties(ws)
    assert p["nodes"] == 30 and p["source_nodes"] >= 1 and 0 < p["density"] < 1
    assert {"closeness_var", "betweenness_mean", "diameter", "layers"} <= set(p)
    with pytest.raises(ValueError, match="kind"):
        random_graph("er", 20, 0)


@pytest.mark.parametrize("n", [10, 19, 20, 33, 50])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_barabasi_albert_grows_from_m_isolated_nodes_as_the_thesis_graphs(n, seed):
    """The thesis's 800 graphs (networkx 2.x) have n // 10 source nodes once oriented low -> high;
    networkx 3's star start would give exactly one."""
    m = n // 10
    g = barabasi_albert(n, m, seed)
    assert g.number_of_nodes() == n and g.number_of_edges() == m * (n - m) and nx.is_connected(g)
    dag = dag_from_graph(g)
    assert sorted(v for v in dag if dag.in_degree(v) == 0) == list(range(m))
    assert graph_properties(g)["source_nodes"] == m
    assert all(g.degree(v) >= m for v in range(m, n))  # every new node brought m edges
    assert nx.utils.graphs_equal(g, barabasi_albert(n, m, seed))  # seeded


def test_barabasi_albert_prefers_high_degree():
    """Preferential attachment: over many graphs the first nodes end with more edges than the last."""
    first, last = [], []
    for seed in range(30):
        g = barabasi_albert(60, 2, seed)
        first.append(np.mean([g.degree(v) for v in range(2, 7)]))
        last.append(np.mean([g.degree(v) for v in range(55, 60)]))
    assert np.mean(first) > 2 * np.mean(last)
    with pytest.raises(ValueError, match="m < n"):
        barabasi_albert(5, 5, 0)


def test_train_sequences_counts_steps_and_epochs():
    torch.manual_seed(0)
    model = RNNClassifier("rnn_tanh", hidden=4, num_layers=1, embed=3)
    x, lengths = encode(["BTXSE", "BPVVE", "BTSSXXTVVE", "BPTVPSE", "BTXSE"])
    y = torch.tensor([1, 1, 1, 1, 0])
    calls = []
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    opt.register_step_post_hook(lambda *a: calls.append(1))
    from sparsekit.rnn import train_sequences

    assert len(train_sequences(model, opt, x, lengths, y, epochs=3, batch_size=2)) == 3
    assert len(calls) == 9  # 3 batches per pass
    calls.clear()
    train_sequences(model, opt, x, lengths, y, epochs=1, batch_size=2, max_steps=7)
    assert len(calls) == 7


def test_accuracy_matches_a_direct_count_and_restores_training_mode():
    from sparsekit.rnn import RNNClassifier, accuracy

    torch.manual_seed(0)
    model = RNNClassifier("gru", hidden=6, num_layers=1, embed=4)
    x = torch.randint(0, 20, (23, 9))
    lengths = torch.randint(1, 10, (23,))
    y = torch.randint(0, 2, (23,))
    model.train()
    with torch.no_grad():  # oracle: one sequence at a time, each cut to its own length
        preds = torch.stack([model(x[i : i + 1, : int(lengths[i])], lengths[i : i + 1]).argmax(-1)[0]
                             for i in range(23)])
    want = (preds == y).float().mean().item()
    for bs in (1, 5, 1024):
        assert accuracy(model, x, lengths, y, batch_size=bs) == pytest.approx(want)
    assert model.training


def test_layer_index_is_the_longest_path_from_a_source():
    import networkx as nx

    from sparsekit.rnn import dag_from_graph, layer_index

    for seed in range(5):
        dag = dag_from_graph(nx.gnp_random_graph(25, 0.15, seed=seed))
        want = {}
        for v in nx.topological_sort(dag):  # oracle: dynamic programming over a topological order
            want[v] = 1 + max((want[u] for u in dag.predecessors(v)), default=-1)
        assert layer_index(dag) == want
