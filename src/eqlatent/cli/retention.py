"""How distance-preserving invariant projections are, on saved latents: one table row per projection, raw latent last.

``python -m eqlatent.cli.retention --latents z.npy --field-type "C4: 4 regular + 2 trivial" --projection random_invariant norm``
(also ``eqlatent retention ...``).

``--latents`` is a torch file (``torch.save(z, "z.pt")``), a ``.npy`` array or a ``.npz``
archive, holding the latents ``[n, ...]`` -- or a dict / archive with them under ``latents``,
``z`` or ``x`` and, for PyG node latents ``x [num_nodes, d]``, the graph index of each node
under ``batch`` (or ``--batch FILE``).  The group: ``--group`` ``S_n`` (node latents), ``C<N>`` /
``D<N>`` (regular fields, e.g. ``[n, fields, N]``) or ``SO2`` (``[n, fields, 1+2L]``); or, for
mixed fields, ``--field-type "<group>: <count> <rep> + ..."`` with reps ``regular``, ``trivial``,
``irrep<k>``, ``irrep(<j>,<k>)`` (see :func:`eqlatent.groups.specs.parse_field_type`); for an e3nn
model's flat ``[n, irreps.dim]`` latents, ``--field-type "O3: 8x0e + 4x1o + 2x2e"`` (or ``SO3: ...``:
e3nn's irreps after the group, see :func:`eqlatent.groups.o3.parse_irreps_spec`).
Prints a markdown table, one row per ``--projection`` (``--method``: its earlier name) plus the raw latent (``--json``: a list of
rows) -- Spearman, relative error, kNN consistency and the distortion (the max / min ratio of projected to quotient
distance over the pairs; ``inf`` when two orbits collapsed to one point, ``Infinity`` in JSON);
bad input (including latents holding NaN / inf: the CLI, like :func:`eqlatent.retention`, is an API
boundary that checks values) is one line on stderr and exit status 2.  In Python: :func:`eqlatent.retention`.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from eqlatent.runtime.commandline import OneLineParser
from eqlatent.errors import ConfigError, DataFileError, EqlatentError
from eqlatent.projections.registry import projection_names

LATENT_KEYS = ("latents", "z", "x")
SPEC_EXAMPLE = "'C4: 4 regular + 2 trivial'"


def _read(path: str) -> Any:
    """The object saved at ``path``: a tensor / dict (torch), an array (``.npy``) or a dict of arrays (``.npz``)."""
    file = Path(path)
    if not file.is_file():
        raise DataFileError(f"no latents file at {path}", "save them first: torch.save(z, 'z.pt') or np.save('z.npy', z)")
    try:
        if file.suffix == ".npy":
            return np.load(file, allow_pickle=False)
        if file.suffix == ".npz":
            with np.load(file, allow_pickle=False) as archive:
                return {key: archive[key] for key in archive.files}
        return torch.load(file, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unreadable file is the same user error
        kind = "a numpy file" if file.suffix in (".npy", ".npz") else "a torch file"
        raise DataFileError(f"cannot read {path} as {kind} ({type(err).__name__})",
                            "save the latents with torch.save(z, 'z.pt') or np.save('z.npy', z)") from None


def _tensor(obj: Any) -> Any:
    return torch.from_numpy(obj) if isinstance(obj, np.ndarray) else obj


def load_latents(path: str, with_batch: bool = False) -> Any:
    """The latent tensor saved at ``path`` (and, ``with_batch``, the saved batch vector or None)."""
    obj = _read(path)
    batch = None
    if isinstance(obj, dict):
        batch = obj.get("batch")
        obj = next((obj[key] for key in LATENT_KEYS if key in obj), None)
    obj, batch = _tensor(obj), _tensor(batch)
    if not isinstance(obj, torch.Tensor):
        raise DataFileError(f"{path} holds no latent tensor",
                            f"save a tensor / array, or a dict with one of the keys {', '.join(LATENT_KEYS)}")
    return (obj, batch) if with_batch else obj


def _pair_count(text: str) -> int | str:
    """``--n-pairs``: a whole number, or ``all``."""
    if text == "all":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number or 'all', got {text!r}") from None


def build_parser(prog: str) -> argparse.ArgumentParser:
    ap = OneLineParser(prog=prog, description=__doc__.splitlines()[0], allow_abbrev=False,
                       epilog="example: eqlatent retention --latents z.npy --field-type 'C4: 4 regular + 2 trivial' "
                              "--projection random_invariant norm   (docs/retention.md explains the table)")
    ap.add_argument("--latents", required=True,
                    help="latents [n, ...]: a torch file, .npy or .npz (or a dict with 'latents' / 'x' and 'batch')")
    where = ap.add_mutually_exclusive_group(required=True)
    where.add_argument("--group", help="S_n, C<N>, D<N> or SO2 (the studies' layouts), or a field-type spec")
    where.add_argument("--field-type", metavar="SPEC",
                       help=f"mixed fields, e.g. {SPEC_EXAMPLE} or 'SO2: irrep0 + 2*irrep1 + irrep2'; e3nn latents "
                            f"[n, irreps.dim]: 'O3: 8x0e + 4x1o + 2x2e' or 'SO3: ...'")
    ap.add_argument("--projection", nargs="+", metavar="NAME",
                    help=f"one or more projections, one row each (default random_invariant; S_n: lex_sort): "
                         f"{' | '.join(projection_names('field_type'))}; S_n: {' | '.join(projection_names('nodes'))}; "
                         f"e3nn: {' | '.join(projection_names('e3nn'))}")
    ap.add_argument("--method", nargs="+", metavar="NAME", dest="old_method", help=argparse.SUPPRESS)
    ap.add_argument("--batch", metavar="FILE", help="S_n: graph index of each node row [num_nodes] (.pt / .npy)")
    ap.add_argument("--n-pairs", type=_pair_count, default=2000,
                    help="distinct random pairs for Spearman / relative error (at most n(n-1)/2; default 2000), "
                         "or 'all': every pair and every neighbourhood (the studies' all-pairs measure)")
    ap.add_argument("--knn-k", type=int, default=10, help="neighbours for kNN consistency (default 10)")
    ap.add_argument("--n-knn", type=int, default=200, help="latents used for kNN consistency (default 200)")
    ap.add_argument("--n-functionals", type=int, default=None,
                    help="random functionals of random_invariant (default: the latent size)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the pairs and the random functionals (default 0)")
    ap.add_argument("--no-baseline", action="store_true", help="leave out the raw-latent row")
    ap.add_argument("--json", action="store_true", help="print JSON (a list of rows) instead of markdown")
    ap.add_argument("--k", type=int, default=None, dest="old_k", help=argparse.SUPPRESS)
    return ap


def _run(args: argparse.Namespace) -> Any:
    from eqlatent.groups.specs import is_permutation_group
    from eqlatent.toolkit.retention_measure import SmallSampleWarning, retention

    if args.old_k is not None:
        raise ConfigError("--k is now called --knn-k (the kNN neighbours)",
                          f"pass --knn-k {args.old_k}; --n-functionals sets the number of random functionals")
    group = args.field_type or args.group
    if args.field_type is not None and ":" not in args.field_type:
        raise ConfigError(f"field-type spec '{args.field_type}' names no fields", f"write e.g. {SPEC_EXAMPLE}")
    latents, batch = load_latents(args.latents, with_batch=True)
    if args.batch is not None:
        batch = load_latents(args.batch)
    node = is_permutation_group(group)
    if args.old_method is not None:
        if args.projection is not None:
            raise ConfigError("both --projection and --method given", "pass --projection only (--method is its old name)")
        print("warning: --method is now called --projection", file=sys.stderr)
    names = args.projection or args.old_method or ["lex_sort" if node else "random_invariant"]
    shown = warnings.showwarning

    def show(message: Any, category: type, *rest: Any, **kw: Any) -> None:  # a small sample: one plain line
        if issubclass(category, SmallSampleWarning):
            print(f"warning: {message}", file=sys.stderr)
        else:
            shown(message, category, *rest, **kw)

    with warnings.catch_warnings():
        warnings.showwarning = show
        report = retention(latents, names, group, n_pairs=args.n_pairs, knn_k=args.knn_k, n_knn=args.n_knn,
                           seed=args.seed, batch=batch if node else None, n_functionals=args.n_functionals,
                           baseline=not args.no_baseline)
    if batch is not None and not node:
        print("warning: the batch vector is ignored (it is for node latents under S_n)", file=sys.stderr)
    return report


def main(argv: list[str] | None = None, prog: str = "eqlatent retention") -> int:
    """Run the command line on ``argv``; ``prog`` is the name shown in usage and errors."""
    try:
        args = build_parser(prog).parse_args(argv)
    except SystemExit as done:  # --help (0) goes on; a usage error has printed its line: status 2
        if done.code in (0, None):
            raise
        return int(done.code)
    try:
        report = _run(args)
    except EqlatentError as err:
        fix = err.fix
        if "FieldType" in fix:  # the Python fix; on the command line the field type is a spec
            fix = f"describe the fields with --field-type, e.g. --field-type {SPEC_EXAMPLE}"
        print(f"error: {err.problem} -- fix: {fix}", file=sys.stderr)
        return 2
    print(json.dumps(report.as_dicts()) if args.json else report.to_markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main(prog="python -m eqlatent.cli.retention"))
