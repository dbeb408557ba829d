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
"""

from __future__ import annotations

import logging
import warnings

#: prefixes of Lightning log records that advertise other products rather than report an event
ADVERTISEMENTS = ("💡 Tip:",)


class DropAdvertisements(logging.Filter):
    """A logging filter that rejects records whose message starts with one of :data:`ADVERTISEMENTS`."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.getMessage()).startswith(ADVERTISEMENTS)


def configure_console() -> None:
    """Make Lightning log once per event through the root logger, without advertisements.

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
