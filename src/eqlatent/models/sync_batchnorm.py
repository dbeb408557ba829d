"""Batch statistics shared by every process of a multi-device run, for torch's and escnn's batch norms.

Why not Lightning's own ``sync_batchnorm``: it converts layers with torch's
``SyncBatchNorm.convert_sync_batchnorm``, which rebuilds every parent module with
``add_module``.  escnn's ``SequentialModule`` type-checks each module added to it against
the output type of the one before, so rebuilding a steerable CNN fails
(``{irrep_0 (x1)} != {regular (x32)}``).  torch's ``SyncBatchNorm`` also refuses CPU
tensors (no two-process test), and escnn's ``IIDBatchNorm2d`` (the SO(2) encoder) keeps
statistics of its own that torch's conversion does not see.

Here nothing is rebuilt.  Each batch norm keeps its place, parameters, buffers and hooks;
only its class changes, to a subclass that computes the batch statistics of the *global*
batch (every rank's samples): per channel, a sum and then a centred sum of squares,
each all-reduced over the process group (on the GPU or the CPU).  escnn's
``InnerBatchNorm`` normalises through a torch ``BatchNorm3d`` inside it, so it is covered
by the torch case; ``IIDBatchNorm*d`` gets its statistics estimate replaced by the same
formula over the global batch.  A layer's statistics are the same function of the global
batch as they were of the local one, so an equivariant layer stays equivariant.  In eval
mode, or without a process group of more than one rank, a synchronised layer computes
exactly what the original does; :func:`unsync_batch_norms` restores the original classes
(the state dict never changes, so checkpoints load either way).

>>> import torch
>>> net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4))
>>> type(sync_batch_norms(net)[1]).__name__
'SyncedBatchNorm2d'
>>> type(unsync_batch_norms(net)[1]).__name__
'BatchNorm2d'
"""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist
from lightning.pytorch.plugins.layer_sync import TorchSyncBatchNorm
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from eqlatent.errors import ConfigError


def _distributed() -> bool:
    """True inside a process group of more than one rank (the statistics must then be shared)."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


class _SumOverRanks(torch.autograd.Function):
    """``x`` summed over every rank; the gradient of a sum over ranks is the sum of the ranks' gradients."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        x = x.clone()
        dist.all_reduce(x)
        return x

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


def _global_moments(x: Tensor, dims: tuple[int, ...]) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``(mean, x - mean, sum of squared deviations, count)`` over ``dims`` of the batch of every rank.

    Both batch-norm twins need these moments; the results keep ``dims`` (size 1) so they
    broadcast against ``x``.  Gradients flow through both sums (:class:`_SumOverRanks`).
    """
    kept = x.sum(dims, keepdim=True)
    count = x.new_tensor([x.numel() // kept.numel()])
    total = _SumOverRanks.apply(torch.cat([kept.flatten(), count]))
    n = total[-1].detach()
    mean = (total[:-1] / n).view(kept.shape)
    centred = x - mean
    return mean, centred, _SumOverRanks.apply(centred.square().sum(dims, keepdim=True)), n


class _SyncedTorchBatchNorm:
    """Twin of a torch batch norm: in training, mean and variance of the global batch (gradients flow through both)."""

    def forward(self, input: Tensor) -> Tensor:
        if not (self.training and _distributed()):
            return super().forward(input)
        self._check_input_dim(input)
        x = input.float() if input.dtype in (torch.float16, torch.bfloat16) else input   # sums of squares overflow fp16
        mean, centred, m2, n = _global_moments(x, (0, *range(2, x.dim())))
        var = m2 / n
        out = centred * torch.rsqrt(var + self.eps)
        if self.affine:
            shape = [1, -1] + [1] * (x.dim() - 2)
            out = out * self.weight.view(shape) + self.bias.view(shape)
        if self.track_running_stats and self.running_mean is not None:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
                self.running_mean.lerp_(mean.detach().flatten().to(self.running_mean.dtype), factor)
                unbiased = var.detach().flatten() * n / (n - 1).clamp(min=1)
                self.running_var.lerp_(unbiased.to(self.running_var.dtype), factor)
        return out.to(input.dtype)


class _SyncedIIDBatchNorm:
    """Twin of escnn's ``IIDBatchNorm*d``: its (detached) statistics estimated over the global batch.

    Same formula as escnn's ``_estimate_stats``: the mean of each field's channels, projected
    on the field's invariant part, and the unbiased variance averaged over the field's
    channels (isotropic, which is what keeps the norm equivariant).
    """

    def _estimate_stats(self, slice: Tensor, name: str) -> tuple[Tensor | None, Tensor]:
        if not (self.training and _distributed()):
            return super()._estimate_stats(slice, name)
        x = slice.detach()                                 # [b, fields, size, *spatial]
        fields, size = x.shape[1], x.shape[2]
        mean, _, m2, n = _global_moments(x, (0, *range(3, x.dim())))
        mean, m2 = mean.view(fields, size), m2.view(fields, size)
        variances = (m2 / (n - 1).clamp(min=1)).mean(dim=1, keepdim=True)
        means = None
        if self._has_trivial[name]:
            means = torch.einsum("ij,cj->ci", getattr(self, f"{self._escape_name(name)}_avg"), mean)
        return means, variances


_TWINS: dict[type, type] = {}


def _escnn_classes() -> tuple[tuple[type, ...], tuple[type, ...]]:
    """(escnn batch norms this module synchronises, escnn batch norms it cannot)."""
    try:
        from escnn.nn.modules.batchnormalization import gnorm, induced_norm, norm
        from escnn.nn.modules.batchnormalization.iid import _IIDBatchNorm
    except ImportError:   # escnn not installed: no escnn layers to meet
        return (), ()
    return (_IIDBatchNorm,), (norm.NormBatchNorm, gnorm.GNormBatchNorm, induced_norm.InducedNormBatchNorm)


def _twin(cls: type, mixin: type) -> type:
    if cls not in _TWINS:
        _TWINS[cls] = type(f"Synced{cls.__name__}", (mixin, cls), {"__module__": __name__, "_unsynced": cls})
    return _TWINS[cls]


def sync_batch_norms(module: nn.Module) -> nn.Module:
    """Make every batch norm in ``module`` use global-batch statistics in training; returns ``module`` (changed in place).

    Raises :class:`ConfigError` for escnn batch norms whose statistics are not covered
    (``NormBatchNorm``, ``GNormBatchNorm``, ``InducedNormBatchNorm``) rather than leaving
    them silently per-rank.
    """
    iid, unsupported = _escnn_classes()
    for name, layer in module.named_modules():
        cls = type(layer)
        if getattr(cls, "_unsynced", None) is not None or isinstance(layer, nn.SyncBatchNorm):
            continue
        if isinstance(layer, _BatchNorm):
            layer.__class__ = _twin(cls, _SyncedTorchBatchNorm)
        elif iid and isinstance(layer, iid):
            layer.__class__ = _twin(cls, _SyncedIIDBatchNorm)
        elif unsupported and isinstance(layer, unsupported):
            raise ConfigError(f"layer {name or '<root>'} ({cls.__name__}) keeps batch statistics that cannot be "
                              "synchronised across ranks", "use InnerBatchNorm / IIDBatchNorm, or "
                              "trainer.sync_batchnorm=false")
    return module


def unsync_batch_norms(module: nn.Module) -> nn.Module:
    """Undo :func:`sync_batch_norms`: every synchronised layer gets its original class back."""
    for layer in module.modules():
        original = getattr(type(layer), "_unsynced", None)
        if original is not None:
            layer.__class__ = original
    return module


class EquivariantSyncBatchNorm(TorchSyncBatchNorm):
    """Lightning's layer-sync plugin for ``sync_batchnorm``, safe for escnn models and CPU process groups.

    A subclass of Lightning's ``TorchSyncBatchNorm``, so it may be passed as a plugin beside
    ``Trainer(sync_batchnorm=True)``; the DDP strategies apply it before training and revert it
    after (see the module docstring for what it does).
    """

    def apply(self, model: Any) -> Any:
        return sync_batch_norms(model)

    def revert(self, model: Any) -> Any:
        return unsync_batch_norms(model)
