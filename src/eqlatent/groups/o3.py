"""SO(3) and O(3) acting on e3nn latents: ``Irreps`` in e3nn's own layout, basis and parity.

Why e3nn's own matrices: an e3nn model (MACE, NequIP, a user's ``o3.Linear`` stack) returns
a flat ``[N, irreps.dim]`` latent laid out mul-major (``mul`` consecutive blocks of ``2l+1``
per ``mulxlp`` entry), in e3nn's real spherical-harmonics basis, and a rotation acts on it
by ``irreps.D_from_matrix(R)``.  Any other basis (escnn's, a textbook's complex one) would
silently pair the wrong channels, so :class:`IrrepsAction` builds every matrix with e3nn
itself; nothing here re-derives a Wigner matrix.

The group: an element is a rotation ``R`` times the inversion ``k`` times (``k`` in {0, 1});
on an irrep ``(l, p)`` it acts by ``p^k D^l(R)`` (e3nn's ``D_from_angles(..., k)``); as a
3x3 matrix it is ``(-1)^k R``, which is what ``D_from_matrix`` reads.  ``"O3"`` is the whole
group (an e3nn ``Irreps`` alone means O(3): its parities are part of the representation);
``"SO3"`` keeps rotations only, for models that are not equivariant to inversion.

Precision: e3nn builds its generators in torch's *default* dtype, so with the usual float32
default even float64 inputs get ~1e-6 matrices; :func:`e3nn_float64` switches the default
while e3nn builds them (float64 then agrees with ``D(R1 R2) = D(R1) D(R2)`` to ~1e-14, except
within ~1e-8 of e3nn's Euler-angle pole, where ``matrix_to_angles`` loses half the digits).

Examples
--------
>>> import torch
>>> action = irreps_action("O3: 2x0e + 1x1o")
>>> action.dim, action.group
(5, 'O3')
>>> z = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0])
>>> action.act(z, -torch.eye(3)).tolist()           # inversion: scalars stay, the vector flips
[1.0, 2.0, -3.0, -4.0, -5.0]
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterator

import torch
from torch import Tensor

from eqlatent.errors import ConfigError, LatentShapeError

#: the group names an irreps spec may start with (``"SO3: 8x0e+4x1o"``), normalised to these keys
IRREPS_GROUPS = {"SO3": "SO3", "O3": "O3"}
IRREPS_SPEC_GRAMMAR = ("'<group>: <e3nn irreps>' with <group> SO3 or O3, e.g. 'O3: 8x0e + 4x1o + 2x2e' "
                       "(mul x l parity, parity e or o)")
E3NN_FIX = "install e3nn (make setup, or pip install --no-deps e3nn==0.6.0 opt_einsum_fx==0.1.4 opt_einsum==3.4.0)"


def import_e3nn() -> Any:
    """``e3nn.o3``, or a one-line error naming the install when e3nn is missing."""
    try:
        from e3nn import o3
    except ImportError as err:  # pragma: no cover - e3nn is a pinned dependency
        raise ConfigError(f"e3nn latents need the e3nn package ({err})", E3NN_FIX) from None
    return o3


@contextlib.contextmanager
def e3nn_float64() -> Iterator[None]:
    """torch's default dtype set to float64 while e3nn builds matrices (it makes its generators in it)."""
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        yield
    finally:
        torch.set_default_dtype(before)


def _group_key(name: str) -> str | None:
    return IRREPS_GROUPS.get(name.strip().upper().replace("(", "").replace(")", "").replace("_", ""))


def is_irreps(obj: Any) -> bool:
    """Whether ``obj`` names an e3nn latent: an ``e3nn.o3.Irreps``, an :class:`IrrepsAction`, or a
    spec ``"SO3: ..."`` / ``"O3: ..."`` (duck-typed on the class: e3nn is not imported to answer)."""
    if isinstance(obj, IrrepsAction):
        return True
    if isinstance(obj, str):
        return ":" in obj and _group_key(obj.split(":", 1)[0]) is not None
    return type(obj).__name__ == "Irreps" and type(obj).__module__.startswith("e3nn")


@dataclass(frozen=True)
class IrrepBlock:
    """One ``mulx(l, p)`` entry of the Irreps: channels ``start : start + mul * (2l+1)``, mul-major."""

    mul: int
    l: int
    p: int
    start: int

    @property
    def stop(self) -> int:
        return self.start + self.mul * (2 * self.l + 1)


class IrrepsAction:
    """SO(3) or O(3) acting on flat latents ``[..., irreps.dim]`` through e3nn's ``D_from_matrix``.

    Parameters
    ----------
    irreps:
        An ``e3nn.o3.Irreps`` or anything it parses (``"8x0e+4x1o"``).
    group:
        ``"O3"`` (rotations and inversion) or ``"SO3"`` (rotations only).
    """

    def __init__(self, irreps: Any, group: str = "O3") -> None:
        o3 = import_e3nn()
        key = _group_key(str(group))
        if key is None:
            raise ConfigError(f"unknown group '{group}' for e3nn irreps", "use 'SO3' or 'O3'")
        try:
            self.irreps = o3.Irreps(irreps)
        except (ValueError, AssertionError, TypeError) as err:
            raise ConfigError(f"cannot read e3nn irreps {irreps!r} ({err})", f"write {IRREPS_SPEC_GRAMMAR}") from None
        if self.irreps.dim == 0:
            raise ConfigError(f"e3nn irreps {irreps!r} have no channels", "give at least one irrep with mul >= 1")
        self.group = key
        blocks, start = [], 0
        for mul, ir in self.irreps:
            blocks.append(IrrepBlock(int(mul), int(ir.l), int(ir.p), start))
            start += int(mul) * ir.dim
        self.blocks: tuple[IrrepBlock, ...] = tuple(b for b in blocks if b.mul > 0)

    def __repr__(self) -> str:
        return f"IrrepsAction('{self.group}: {self.irreps}')"

    @property
    def dim(self) -> int:
        return int(self.irreps.dim)

    @property
    def cosets(self) -> int:
        """1 for SO(3); 2 for O(3): rotations, then rotations times the inversion."""
        return 2 if self.group == "O3" else 1

    @property
    def lmax(self) -> int:
        return max(b.l for b in self.blocks)

    @property
    def spec(self) -> str:
        return f"{self.group}: {self.irreps}"

    def _check_elements(self, R: Tensor) -> Tensor:
        R = torch.as_tensor(R)
        if R.shape[-2:] != (3, 3):
            raise LatentShapeError(f"group elements must be 3x3 matrices [..., 3, 3], got {tuple(R.shape)}",
                                   "pass rotation matrices (e3nn.o3.rand_matrix), times -1 for the inversion under O3")
        if not R.is_floating_point():
            R = R.double()
        if self.group == "SO3" and bool((torch.linalg.det(R.double()) < 0).any()):
            raise ConfigError("an improper matrix (det < 0) was given for the group SO3",
                              "pass rotations only, or act with group 'O3' (the inversion included)")
        return R

    def matrix(self, R: Tensor) -> Tensor:
        """``[..., dim, dim]``: e3nn's ``irreps.D_from_matrix(R)`` for ``R [..., 3, 3]``, in ``R``'s dtype.

        Built in float64 (see :func:`e3nn_float64`) and cast; ``det R = -1`` is the rotation
        ``-R`` followed by the inversion (O3 only).
        """
        R = self._check_elements(R)
        with e3nn_float64():
            D = self.irreps.D_from_matrix(R.detach().double())
        return D.to(dtype=R.dtype, device=R.device)

    def act(self, z: Tensor, R: Tensor) -> Tensor:
        """``D(R) z`` on flat latents: ``z [..., dim]`` with ``R [3, 3]`` or one element per row ``R [B, 3, 3]``.

        Differentiable in ``z`` (the matrices are constants); returns ``z``'s dtype.
        """
        z = torch.as_tensor(z)
        if z.shape[-1:] != (self.dim,):
            raise LatentShapeError(f"an e3nn latent of irreps {self.irreps} has {self.dim} numbers per row, "
                                   f"got shape {tuple(z.shape)}", "pass the latent [N, irreps.dim] of the same model")
        D = self.matrix(R).to(z)
        return (D @ z.unsqueeze(-1)).squeeze(-1)

    def channels(self, l: int) -> list[tuple[IrrepBlock, slice]]:
        """The blocks of degree ``l`` and their channel slices (each ``mul x (2l+1)``, mul-major)."""
        return [(b, slice(b.start, b.stop)) for b in self.blocks if b.l == l]


@lru_cache(maxsize=64)
def _cached_action(irreps: str, group: str) -> IrrepsAction:
    return IrrepsAction(irreps, group)


def parse_irreps_spec(spec: str) -> IrrepsAction:
    """The action a spec ``"SO3: 8x0e + 4x1o"`` / ``"O3: ..."`` names (cached); one-line error otherwise.

    Why a string: the command line and config files cannot hold an ``Irreps`` object.  The
    part after ``:`` is e3nn's own irreps grammar (``mulx<l><e|o>`` joined by ``+``).
    """
    if not isinstance(spec, str) or ":" not in spec:
        raise ConfigError(f"irreps spec {spec!r} has no ':' after the group", f"write {IRREPS_SPEC_GRAMMAR}")
    name, body = spec.split(":", 1)
    group = _group_key(name)
    if group is None:
        raise ConfigError(f"unknown group '{name.strip()}' in irreps spec '{spec}'", f"write {IRREPS_SPEC_GRAMMAR}")
    body = re.sub(r"\s+", "", body)
    if not body:
        raise ConfigError(f"irreps spec '{spec}' lists no irreps", f"write {IRREPS_SPEC_GRAMMAR}")
    return _cached_action(body, group)


def irreps_action(irreps_or_spec: Any, group: str | None = None) -> IrrepsAction:
    """The :class:`IrrepsAction` of an ``Irreps`` (O(3) unless ``group='SO3'``), a spec, or an action."""
    if isinstance(irreps_or_spec, IrrepsAction):
        if group is not None and _group_key(group) != irreps_or_spec.group:
            return IrrepsAction(irreps_or_spec.irreps, group)
        return irreps_or_spec
    if isinstance(irreps_or_spec, str) and is_irreps(irreps_or_spec):
        action = parse_irreps_spec(irreps_or_spec)
        return action if group is None or _group_key(group) == action.group else IrrepsAction(action.irreps, group)
    return IrrepsAction(irreps_or_spec, group or "O3")
