"""Command line: retention of an invariant projection on saved latents.

``python -m eqlatent.retention_cli --latents z.pt --group C8 --method random_invariant``

``z.pt`` holds a tensor ``[n, ...]`` (``torch.save(z, "z.pt")``) or a dict with it under
``"latents"`` / ``"z"``.  ``--group`` is ``S_n`` (node latents ``[n, nodes, d]``), ``C<N>`` /
``D<N>`` (regular fields, e.g. ``[n, fields, N]``) or ``SO2`` (``[n, fields, 1+2L]``).  Prints
a markdown row (``--json`` for JSON); bad input is one line on stderr and exit status 2.
``--method`` takes the projection names of the configs and of :func:`eqlatent.invariant_projection`
/ :func:`eqlatent.project_nodes`.  In Python, call the function :func:`eqlatent.retention`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from eqlatent.errors import DataFileError, EqlatentError
from eqlatent.toolkit.invariant import FIELD_METHODS
from eqlatent.toolkit.nodes import NODE_METHODS


def load_latents(path: str) -> torch.Tensor:
    """The latent tensor saved at ``path`` (a tensor, or a dict with ``latents`` / ``z``)."""
    if not Path(path).is_file():
        raise DataFileError(f"no latents file at {path}", "save them first: torch.save(z, 'z.pt')")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unreadable file is the same user error
        raise DataFileError(f"cannot read {path} as a torch file ({type(err).__name__})",
                            "save the latents with torch.save(z, path)") from None
    if isinstance(obj, dict):
        obj = obj.get("latents", obj.get("z"))
    if not isinstance(obj, torch.Tensor):
        raise DataFileError(f"{path} holds no latent tensor", "save a tensor, or a dict with key 'latents'")
    return obj


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m eqlatent.retention_cli", description=__doc__.splitlines()[0])
    ap.add_argument("--latents", required=True, help="torch file with latents [n, ...]")
    ap.add_argument("--group", required=True, help="S_n, C<N>, D<N> or SO2")
    ap.add_argument("--method", default="random_invariant",
                    help=f"{' | '.join(FIELD_METHODS)}; S_n: {' | '.join(NODE_METHODS)}")
    ap.add_argument("--n-pairs", type=int, default=2000)
    ap.add_argument("--k", type=int, default=10, help="neighbours for kNN consistency")
    ap.add_argument("--n-knn", type=int, default=200, help="latents used for kNN consistency")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true", help="print JSON instead of markdown")
    args = ap.parse_args(argv)
    from eqlatent.toolkit.retention_measure import retention

    try:
        res = retention(load_latents(args.latents), args.method, args.group, n_pairs=args.n_pairs, k=args.k,
                        n_knn=args.n_knn, seed=args.seed)
    except EqlatentError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(json.dumps(res.as_dict()) if args.json else res.to_markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
