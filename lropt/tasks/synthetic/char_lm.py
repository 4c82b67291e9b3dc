"""``char_lm``: a small next-token language model on a synthetic Markov token stream.

The stream comes from a random Markov chain of order 1 or 2 over ``vocab``
tokens whose transition rows are Dirichlet(``concentration``) draws (low
concentration: nearly deterministic grammar; high: nearly uniform noise).
It is generated once per task as parallel chains; a batch is ``batch_size``
windows of ``seq_len + 1`` tokens at random places. Models: an embedding + GRU
(written with plain ``nn.Linear`` layers so that it works under
``torch.func.vmap``, which ``nn.GRU`` does not), or an MLP over the previous
``context`` tokens.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..device_cache import cached
from ..losses import accuracy, cross_entropy
from ..params import Choice, FloatRange, IntRange, ParamSpace
from ..seeding import SALT_TASK, SALT_TRAIN, generator, mix_seed, seeded_module
from .common import ACTIVATIONS, STEPS, ParamFamily, SyntheticTask, mlp

TRAIN_CHAINS, VAL_CHAINS, CHAIN_LEN = 32, 8, 1024
VAL_WINDOWS = 64
MAX_STATES = 4096


class GRULM(nn.Module):
    """Embedding -> single-layer GRU (explicit gates, vmap-safe) -> logits per position."""

    def __init__(self, vocab: int, embed: int, hidden: int):
        super().__init__()
        self.embed = nn.Embedding(vocab, embed)
        self.inp = nn.Linear(embed, 3 * hidden)
        self.rec = nn.Linear(hidden, 3 * hidden)
        self.out = nn.Linear(hidden, vocab)
        self.hidden = hidden

    def forward(self, tokens: Tensor) -> Tensor:
        xs = self.inp(self.embed(tokens))  # (B, T, 3H)
        h = xs.new_zeros(tokens.shape[0], self.hidden)
        outs = []
        for t in range(tokens.shape[1]):
            xr, xz, xn = xs[:, t].chunk(3, dim=-1)
            hr, hz, hn = self.rec(h).chunk(3, dim=-1)
            r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
            h = (1 - z) * torch.tanh(xn + r * hn) + z * h
            outs.append(h)
        return self.out(torch.stack(outs, dim=1))


class ContextMLPLM(nn.Module):
    """Embed the previous ``context`` tokens (left-padded), concatenate, MLP -> logits per position."""

    def __init__(self, vocab: int, embed: int, hidden: int, context: int, act: str):
        super().__init__()
        self.embed = nn.Embedding(vocab + 1, embed)  # index ``vocab`` is the padding token
        self.net = mlp(context * embed, hidden, 1, vocab, act)
        self.vocab, self.context = vocab, context

    def forward(self, tokens: Tensor) -> Tensor:
        padded = F.pad(tokens, (self.context - 1, 0), value=self.vocab)
        length = tokens.shape[1]
        windows = [padded[:, i : i + length] for i in range(self.context)]
        return self.net(torch.cat([self.embed(w) for w in windows], dim=-1))


@dataclass
class CharLMTask(SyntheticTask):
    """Next-token prediction on a random Markov chain's output."""

    ARCH_FIELDS = ("vocab", "seq_len", "model", "embed", "hidden", "context", "activation", "batch_size")

    vocab: int = 32
    order: int = 1
    concentration: float = 0.2
    seq_len: int = 32
    model: str = "gru"
    embed: int = 16
    hidden: int = 64
    context: int = 3
    activation: str = "tanh"
    metric_name: str | None = "accuracy"
    base_lrs: dict = field(default_factory=lambda: {"sgd": 0.3, "adam": 3e-3, "adamw": 3e-3})

    def __post_init__(self):
        if self.model == "gru":  # unused by the GRU: keep arch keys of GRU tasks equal
            self.context, self.activation = 0, "none"

    def init_model(self, seed: int) -> nn.Module:
        if self.model == "gru":
            return seeded_module(lambda: GRULM(self.vocab, self.embed, self.hidden), seed)
        return seeded_module(
            lambda: ContextMLPLM(self.vocab, self.embed, self.hidden, self.context, self.activation), seed
        )

    def _streams(self):
        """Token chains ``(train (32, 1024), val (8, 1024))`` sampled from the task's Markov chain."""
        gen = generator(self.data_seed, SALT_TASK)
        n_states = min(self.vocab**self.order, MAX_STATES)
        rows = np.random.default_rng(mix_seed(self.data_seed, SALT_TASK)).dirichlet(
            np.full(self.vocab, self.concentration), size=n_states
        )
        probs = torch.from_numpy(np.nan_to_num(rows, nan=0.0) + 1e-12).to(torch.float32)
        cum = (probs / probs.sum(-1, keepdim=True)).cumsum(-1)
        chains = TRAIN_CHAINS + VAL_CHAINS
        prev = torch.randint(0, self.vocab, (chains, self.order), generator=gen)
        uniforms = torch.rand(chains, CHAIN_LEN, generator=gen)
        tokens = torch.empty(chains, CHAIN_LEN, dtype=torch.long)
        for t in range(CHAIN_LEN):
            state = prev[:, 0] if self.order == 1 else (prev[:, 0] * self.vocab + prev[:, 1]) % n_states
            nxt = (uniforms[:, t : t + 1] > cum[state]).sum(-1).clamp_max(self.vocab - 1)
            tokens[:, t] = nxt
            prev = torch.cat([prev[:, 1:], nxt[:, None]], dim=1)
        return tokens[:TRAIN_CHAINS], tokens[TRAIN_CHAINS:]

    def _windows(self, chains: Tensor, n: int, gen: torch.Generator):
        dev = chains.device
        rows = torch.randint(0, chains.shape[0], (n,), generator=gen, device=dev)
        starts = torch.randint(0, chains.shape[1] - self.seq_len, (n,), generator=gen, device=dev)
        idx = starts[:, None] + torch.arange(self.seq_len + 1, device=dev)
        window = chains[rows[:, None], idx]
        return window[:, :-1], window[:, 1:]

    def train_batch(self, step: int, device=None):
        train, _ = cached(self, "streams", device, self._streams)
        return self._windows(train, self.batch_size, generator(self.data_seed, SALT_TRAIN, step, device=train.device))

    def val_batches(self, device=None) -> list:
        def build():
            _, val = cached(self, "streams", "cpu", self._streams)
            starts = torch.arange(
                0, CHAIN_LEN - self.seq_len, (CHAIN_LEN - self.seq_len) // (VAL_WINDOWS // VAL_CHAINS)
            )
            starts = starts[: VAL_WINDOWS // VAL_CHAINS]
            idx = starts[:, None] + torch.arange(self.seq_len + 1)
            window = val[:, idx].reshape(-1, self.seq_len + 1)
            return [(window[:, :-1], window[:, 1:])]

        return cached(self, "val", device, build)

    def loss(self, outputs, targets) -> Tensor:
        return cross_entropy(outputs, targets)

    def metric(self, outputs, targets) -> Tensor:
        return accuracy(outputs, targets)


class CharLMFamily(ParamFamily):
    """Token-level LMs (GRU or context MLP) on random Markov streams (vocab, order, entropy)."""

    name = "char_lm"
    description = "embedding + GRU or context-MLP language model on a synthetic Markov token stream"
    TASK = CharLMTask
    SPACE = ParamSpace(
        "char_lm",
        vocab=IntRange(2, 512, (8, 64), log=True),
        order=IntRange(1, 2, (1, 2)),
        concentration=FloatRange(1e-3, 100.0, (0.05, 1.0), log=True),
        seq_len=IntRange(2, 256, (8, 32), log=True),
        model=Choice(("gru", "mlp"), ("gru", "mlp")),
        embed=IntRange(2, 512, (8, 32), log=True),
        hidden=IntRange(4, 1024, (16, 64), log=True),
        context=IntRange(1, 16, (2, 4)),
        activation=Choice(tuple(ACTIVATIONS), ("relu", "tanh", "gelu")),
        batch_size=IntRange(1, 1024, (8, 32), log=True),
        steps=STEPS,
    )
