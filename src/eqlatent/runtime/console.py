"""One console line per event: Lightning's and wandb's own console set-up, tamed at the source.

Why a module: three third-party habits made every run print noise.  Lightning's package
logger (``logging.getLogger("lightning")``) carries its own ``StreamHandler`` *and*
propagates to the root logger that Hydra configures, so each Lightning message appeared
twice ("INFO: ..." and Hydra's "[time][name][INFO] - ...").  Lightning also logs a tip
advertising another logging product on every ``Trainer``, and one of its utilities calls a
``torch.utils._pytree`` API that torch 2.13 deprecates (nothing we can change; fixed in
Lightning).  :func:`configure_console` removes the duplicate handler when the root logger
prints already, drops the advertisement with a logging filter and the pytree deprecation
with a targeted ``warnings`` filter.  Warnings that point to a real problem in our own code
are fixed where they arise, not filtered here.

Two Lightning tips ask for settings this project makes on purpose, so they are dropped
too.  On an Ampere or later GPU Lightning advises ``torch.set_float32_matmul_precision``
while the precision is torch's default: :func:`set_matmul_precision` sets it from the
config's ``matmul_precision`` (and the tip is dropped also when ``highest`` is chosen).
With fewer than two DataLoader workers Lightning warns that the loader "does not have
many workers": ours index cached in-memory tensors, where workers only add copies
(``profile.loader.num_workers: 0``, :mod:`eqlatent.data.loaders`).
"""

from __future__ import annotations

import logging
import warnings

from eqlatent.errors import ConfigError

#: prefixes of Lightning log records that advertise other products rather than report an event
ADVERTISEMENTS = ("💡 Tip:",)
#: prefixes of Lightning log records that advise a setting the config makes on purpose (``matmul_precision``)
SETTLED_TIPS = ("You are using a CUDA device",)
#: the values ``torch.set_float32_matmul_precision`` accepts
MATMUL_PRECISIONS = ("highest", "high", "medium")


class DropAdvertisements(logging.Filter):
    """A logging filter that rejects records starting with one of :data:`ADVERTISEMENTS` or :data:`SETTLED_TIPS`."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.getMessage()).startswith(ADVERTISEMENTS + SETTLED_TIPS)


def configure_console() -> None:
    """Make Lightning log once per event through the root logger, without advertisements or settled tips.

    Idempotent; call it after the root logger is configured (Hydra does so before the job
    starts).  Without root handlers (a plain script), Lightning's own handler is kept so its
    messages still reach the console.
    """
    import lightning  # noqa: F401  -- its import attaches the handler handled below

    package = logging.getLogger("lightning")
    if logging.getLogger().handlers:
        for handler in list(package.handlers):
            package.removeHandler(handler)
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, DropAdvertisements) for f in logger.filters):
            logger.addFilter(DropAdvertisements())
    warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated")
    from lightning.fabric.utilities.warnings import PossibleUserWarning

    # our loaders index in-memory tensors: num_workers=0 is a choice (profile.loader), not a bottleneck
    warnings.filterwarnings("ignore", message=r"The '\w+' does not have many workers which may be a bottleneck",
                            category=PossibleUserWarning)


def set_matmul_precision(precision: str) -> None:
    """Set torch's float32 matmul precision on purpose: ``matmul_precision`` in ``configs/config.yaml``.

    ``high`` (or ``medium``) lets Ampere and later GPUs run float32 matmuls on TF32 tensor
    cores; ``highest`` keeps full float32.  Applied only where CUDA is available: torch
    documents no effect on CPU, yet its setter also switches oneDNN's CPU matmuls to TF32
    where a CPU supports it, so CPU runs keep torch's default and their numbers do not
    depend on this setting.
    """
    if precision not in MATMUL_PRECISIONS:
        raise ConfigError(f"matmul_precision={precision!r} is not known", f"use one of {', '.join(MATMUL_PRECISIONS)}")
    import torch

    if torch.cuda.is_available():
        torch.set_float32_matmul_precision(precision)
