"""Which process of a multi-device run writes: rank 0 (or the only process).

Why: under ``trainer=ddp`` Lightning re-runs the study's command once per device, so every rank runs
the whole study function; fits are collective, everything else (model folders, latents, results)
is read by every rank but written by rank 0 alone.
"""

from __future__ import annotations

from lightning.pytorch.utilities import rank_zero_only


def is_rank_zero() -> bool:
    """True in the process that analyses and writes: rank 0 of a multi-device run, or the only process.

    Lightning sets the rank of the processes it starts (``LOCAL_RANK``) before they import
    anything, so this holds before the first fit too.
    """
    return rank_zero_only.rank == 0
