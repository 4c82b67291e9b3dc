"""Small from-scratch text classifiers over padded word-id tensors (id 0 is padding)."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class BagOfEmbeddings(nn.Module):
    """Mean of the word embeddings (padding masked out), then a one-hidden-layer MLP."""

    def __init__(self, vocab: int, embed: int, hidden: int, n_classes: int, dropout: float):
        super().__init__()
        self.embed = nn.Embedding(vocab, embed, padding_idx=0)
        self.head = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(embed, hidden), nn.ReLU(), nn.Linear(hidden, n_classes)
        )

    def forward(self, ids: Tensor) -> Tensor:
        mask = (ids != 0).unsqueeze(-1).to(torch.float32)
        mean = (self.embed(ids) * mask).sum(1) / mask.sum(1).clamp_min(1.0)
        return self.head(mean)


class TextCNN(nn.Module):
    """Word embeddings, 1-d convolutions of several widths, max over time, dropout, linear."""

    def __init__(self, vocab: int, embed: int, channels: int, widths: tuple, n_classes: int, dropout: float):
        super().__init__()
        self.embed = nn.Embedding(vocab, embed, padding_idx=0)
        self.convs = nn.ModuleList(nn.Conv1d(embed, channels, k, padding=k // 2) for k in widths)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(channels * len(widths), n_classes))

    def forward(self, ids: Tensor) -> Tensor:
        x = self.embed(ids).transpose(1, 2)  # (B, E, L)
        pooled = [torch.relu(conv(x)).amax(dim=-1) for conv in self.convs]
        return self.head(torch.cat(pooled, dim=-1))


class GRUClassifier(nn.Module):
    """Word embeddings, one GRU layer, the mean of its outputs over non-padding positions, dropout, linear."""

    def __init__(self, vocab: int, embed: int, hidden: int, n_classes: int, dropout: float):
        super().__init__()
        self.embed = nn.Embedding(vocab, embed, padding_idx=0)
        self.gru = nn.GRU(embed, hidden, batch_first=True)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden, n_classes))

    def forward(self, ids: Tensor) -> Tensor:
        outputs, _ = self.gru(self.embed(ids))  # (B, L, H)
        mask = (ids != 0).unsqueeze(-1).to(outputs.dtype)
        mean = (outputs * mask).sum(1) / mask.sum(1).clamp_min(1.0)
        return self.head(mean)


class CharGRU(nn.Module):
    """A character language model: embedding, one GRU layer, logits for the next character at every position."""

    def __init__(self, vocab: int, embed: int, hidden: int):
        super().__init__()
        self.embed = nn.Embedding(vocab, embed)
        self.gru = nn.GRU(embed, hidden, batch_first=True)
        self.out = nn.Linear(hidden, vocab)

    def forward(self, chars: Tensor) -> Tensor:
        outputs, _ = self.gru(self.embed(chars))
        return self.out(outputs)  # (B, L, vocab)
