"""LRController: a small recurrent cell that turns features into a bounded log-multiplier.

The controller is a feedback loop: each call it reads the features of every
parameter group (groups are the batch dimension; weights are shared, hidden
states are not) and nudges each group's log-multiplier by at most
``max_log_step``, keeping it within ``[-max_log_mult, max_log_mult]``:

    delta    = max_log_step * tanh(head(cell(features, hidden)))
    log_mult = clamp(log_mult + delta, -max_log_mult, max_log_mult)
    lr       = base_lr * exp(log_mult)

So one call changes the LR by a factor of at most ``exp(max_log_step)``
(default 1.105x) and the LR stays within ``base_lr * exp(±max_log_mult)``
(default 0.01x .. 100x).

Warm-up start (``start_log_mult < 0``, default 0): the log-multiplier starts
at ``start_log_mult`` instead of 0, so the first steps run at
``base_lr * exp(start_log_mult)`` and the network climbs from there while the
loss allows. A base LR far too high then does not blow up the first step
(a multiplier that starts at 1 cannot prevent that: the first update is taken
before any feedback exists).

Divergence guard (``guard_loss_ratio > 0``, off by default): while the loss
is above ``guard_loss_ratio`` times the first loss *and rising* (its fast EMA
above its slow EMA), the log-multiplier falls by ``guard_log_step`` (default:
``max_log_step``) per call whatever the network says; this is the one case
where the LR may move faster than ``exp(max_log_step)`` per call. Requiring a rising loss keeps the guard from
pinning the LR at its floor when the loss sits high but flat (after a data
shift or a reset): once the loss stops rising the network decides again. It is part of the
controller, so meta-training trains with the same rule it is deployed with.

Overfitting guard (``overfit_guard > 0``, off by default): while the last validation loss is
more than ``overfit_guard`` (in log terms) above the best seen, the log-multiplier falls by at
least ``guard_log_step`` per call. On tasks that overfit, the validation loss turns up while a
learned controller may still hold the LR high; the schedules that decay early then end lower.
With ``observe(val_loss=...)`` never called the feature reads 0 and the guard never acts.

The head is zero-initialised: an untrained controller
outputs ``delta == 0`` exactly, the multiplier stays exactly at its start (1.0
unless ``start_log_mult`` is set), and with the default start the wrapped
optimizer's trajectory is bit-identical to the bare one.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from . import features as F

CELLS = ("gru", "lstm")
_LOSS_VS_START = F.FEATURE_NAMES.index("loss_vs_start")
_LOSS_TREND = F.FEATURE_NAMES.index("loss_trend")
_VAL_VS_BEST = F.FEATURE_NAMES.index("val_vs_best")
_LOSS_VS_START_SCALE = 3.0  # features.update scales log(L / L0) by 1/3


def _gru_cell(cell: nn.GRUCell, x: Tensor, h: Tensor) -> Tensor:
    """``nn.GRUCell`` written out in linear ops, so it batches under ``vmap`` (per-run weights in PES)."""
    gi = nn.functional.linear(x, cell.weight_ih, cell.bias_ih)
    gh = nn.functional.linear(h, cell.weight_hh, cell.bias_hh)
    i_r, i_z, i_n = gi.chunk(3, -1)
    h_r, h_z, h_n = gh.chunk(3, -1)
    r = torch.sigmoid(i_r + h_r)
    z = torch.sigmoid(i_z + h_z)
    n = torch.tanh(i_n + r * h_n)
    return (1 - z) * n + z * h


def _lstm_cell(cell: nn.LSTMCell, x: Tensor, h: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
    """``nn.LSTMCell`` written out in linear ops (see :func:`_gru_cell`)."""
    gates = nn.functional.linear(x, cell.weight_ih, cell.bias_ih) + nn.functional.linear(h, cell.weight_hh, cell.bias_hh)
    i, f, g, o = gates.chunk(4, -1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


class LRController(nn.Module):
    """GRU/LSTM cell plus a zero-initialised linear head.

    Args:
        hidden_size: width of the recurrent state.
        cell: ``"gru"`` or ``"lstm"``.
        max_log_step: largest change of the log-multiplier per call.
        max_log_mult: bound on the absolute log-multiplier.
        num_features: input width; must equal the feature spec's length.
        guard_loss_ratio: divergence guard threshold (0: off), see the module docstring.
        guard_log_step: how fast the guard lowers the log-multiplier per call (default ``max_log_step``).
        start_log_mult: the log-multiplier before the first call (warm-up start), in ``[-max_log_mult, 0]``.
        overfit_guard: overfitting guard threshold (0: off), a log-ratio of the last validation loss
            to the best, in ``(0, 0.3)``; see the module docstring.
    """

    def __init__(
        self,
        hidden_size: int = 32,
        cell: str = "gru",
        max_log_step: float = 0.1,
        max_log_mult: float = math.log(100.0),
        num_features: int | None = None,
        guard_loss_ratio: float = 0.0,
        guard_log_step: float | None = None,
        start_log_mult: float = 0.0,
        overfit_guard: float = 0.0,
    ):
        super().__init__()
        num_features = F.num_features() if num_features is None else num_features
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {CELLS}, got {cell!r}")
        if not (isinstance(hidden_size, int) and hidden_size > 0):
            raise ValueError(f"hidden_size must be a positive int, got {hidden_size!r}")
        if not (0 < max_log_step <= max_log_mult):
            raise ValueError(
                f"need 0 < max_log_step <= max_log_mult, got max_log_step={max_log_step}, "
                f"max_log_mult={max_log_mult}"
            )
        if guard_loss_ratio != 0.0 and not guard_loss_ratio > 1.0:
            raise ValueError(f"guard_loss_ratio must be 0 (off) or > 1, got {guard_loss_ratio}")
        guard_log_step = max_log_step if guard_log_step is None else guard_log_step
        if not 0 < guard_log_step <= max_log_mult:
            raise ValueError(f"need 0 < guard_log_step <= max_log_mult, got guard_log_step={guard_log_step}")
        if not -max_log_mult <= start_log_mult <= 0:
            raise ValueError(f"need -max_log_mult <= start_log_mult <= 0, got start_log_mult={start_log_mult}")
        if not (overfit_guard == 0.0 or 0.0 < overfit_guard < F.VAL_VS_BEST_CLIP):
            raise ValueError(f"overfit_guard must be 0 (off) or in (0, {F.VAL_VS_BEST_CLIP}), got {overfit_guard}")
        if overfit_guard and num_features <= _VAL_VS_BEST:
            raise ValueError(f"overfit_guard needs the val_vs_best input (feature spec 3); num_features={num_features}")
        self.config = {
            "hidden_size": hidden_size,
            "cell": cell,
            "max_log_step": float(max_log_step),
            "max_log_mult": float(max_log_mult),
            "num_features": num_features,
            "guard_loss_ratio": float(guard_loss_ratio),
        }
        if guard_log_step != max_log_step:   # absent when default, so files stay readable by older lropt
            self.config["guard_log_step"] = float(guard_log_step)
        if start_log_mult != 0:   # likewise
            self.config["start_log_mult"] = float(start_log_mult)
        if overfit_guard != 0:   # likewise
            self.config["overfit_guard"] = float(overfit_guard)
        cell_cls = nn.GRUCell if cell == "gru" else nn.LSTMCell
        self.cell = cell_cls(num_features, hidden_size)
        self.head = nn.Linear(hidden_size, 1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    @property
    def hidden_size(self) -> int:
        return self.config["hidden_size"]

    #: Settings that change what the controller does but not its weights' shapes; the optional ones are
    #: written only when not at their default (absent: default), so files stay readable by older lropt.
    BEHAVIOUR_KEYS = ("max_log_step", "max_log_mult", "guard_loss_ratio")
    OPTIONAL_BEHAVIOUR_KEYS = ("guard_log_step", "start_log_mult", "overfit_guard")

    def take_settings(self, saved: dict | None) -> None:
        """Adopt ``saved``'s behaviour settings in place (a saved config; shapes are the caller's to check).
        A required key the saved config lacks (an older file) keeps this controller's value."""
        if not saved:
            return
        for key in self.BEHAVIOUR_KEYS:
            if key in saved:
                self.config[key] = saved[key]
        for key in self.OPTIONAL_BEHAVIOUR_KEYS:
            if key in saved:
                self.config[key] = saved[key]
            else:
                self.config.pop(key, None)

    @property
    def start_log_mult(self) -> float:
        """The log-multiplier before the first call (0 unless a warm-up start is set)."""
        return self.config.get("start_log_mult", 0.0)

    def start_multiplier(self) -> float:
        """``exp(start_log_mult)`` in float32, as the state's ``exp(log_mult)`` is computed."""
        return float(torch.tensor(self.start_log_mult).exp())

    def init_state(self, num_groups: int, *, device=None, dtype=torch.float32) -> dict[str, Tensor]:
        """Fresh recurrent state for ``num_groups`` groups: hidden (and cell) state, log-multiplier."""
        z = torch.zeros(num_groups, self.hidden_size, device=device, dtype=dtype)
        state = {"h": z, "log_mult": torch.full((num_groups,), self.start_log_mult, device=device, dtype=dtype)}
        if self.config["cell"] == "lstm":
            state["c"] = z.clone()
        return state

    def forward(self, features: Tensor, state: dict[str, Tensor], ok: Tensor | None = None, *,
                steps_per_call: int = 1) -> dict[str, Tensor]:
        """One control step: ``features [G, F]`` -> new state (``log_mult [G]`` inside).

        Groups where ``ok`` is false keep their previous state, so a NaN step
        neither moves the multiplier nor poisons the hidden state.
        ``steps_per_call``: the training steps this call stands for (the wrapper's ``every``). The
        log-multiplier moves that many times as far (the network's change and the guards' push alike),
        so a controller called every N steps keeps the per-step rates it was meta-trained with; without
        it, every=10 held the LR near its 0.3x start for a whole run.
        """
        x = features.to(self.head.weight.dtype)
        if self.config["cell"] == "lstm":
            h, c = _lstm_cell(self.cell, x, state["h"], state["c"])
        else:
            h, c = _gru_cell(self.cell, x, state["h"]), None
        step = self.config["max_log_step"] * steps_per_call
        delta = step * torch.tanh(self.head(h).squeeze(-1))
        guard_step = self.config.get("guard_log_step", self.config["max_log_step"]) * steps_per_call  # both guards
        if self.config["guard_loss_ratio"] > 0:
            above = x[..., _LOSS_VS_START] > math.log(self.config["guard_loss_ratio"]) / _LOSS_VS_START_SCALE
            rising = x[..., _LOSS_TREND] > 0
            delta = torch.where(above & rising, torch.full_like(delta, -guard_step), delta)
        if self.config.get("overfit_guard", 0.0) > 0:
            over = x[..., _VAL_VS_BEST] > self.config["overfit_guard"] / F.VAL_VS_BEST_CLIP
            delta = torch.where(over, torch.clamp(delta, max=-guard_step), delta)
        bound = self.config["max_log_mult"]
        log_mult = torch.clamp(state["log_mult"] + delta, -bound, bound)
        new = {"h": h, "log_mult": log_mult}
        if c is not None:
            new["c"] = c
        if ok is not None:
            ok_col = ok.unsqueeze(-1)
            new = {k: torch.where(ok_col if v.dim() == 2 else ok, v, state[k]) for k, v in new.items()}
        return new

    def extend_state(self, state: dict[str, Tensor], num_new: int) -> dict[str, Tensor]:
        """Append fresh state for groups added later (``add_param_group``)."""
        ref = state["log_mult"]
        fresh = self.init_state(num_new, device=ref.device, dtype=ref.dtype)
        return {k: torch.cat([v, fresh[k]]) for k, v in state.items()}

    def is_identity(self) -> bool:
        """True when the head is all zeros, the start is 1.0 and no guard is on: the multiplier can never
        leave 1.0."""
        guarded = self.config["guard_loss_ratio"] > 0 or self.config.get("overfit_guard", 0.0) > 0
        return (self.start_log_mult == 0 and not guarded
                and bool((self.head.weight == 0).all() and (self.head.bias == 0).all()))
