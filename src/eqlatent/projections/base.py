"""The contract every invariant projection follows.

An equivariant encoder returns a latent ``z`` that is only defined up to a group action
``g . z`` (node order, rotation).  An invariant projection ``pi`` maps every point of an
orbit to the same value, ``pi(g . z) == pi(z)``, so downstream tools (probes, PCA,
interpolation) stop confusing "the same" latents.  A projection is *lossless* when it is
injective on orbits (two latents in different orbits never collide); it is an *isometric
cross-section* when, additionally, ``||pi(z1) - pi(z2)||`` equals the quotient distance
``min_g ||z1 - g . z2||``.

Invariance is on the contract itself (as escnn's ``check_equivariance``): every concrete
subclass says how to draw a latent of its layout (:meth:`InvariantProjection.example_latent`)
and a random element of the group it removes (:meth:`InvariantProjection.group_sampler`), and
:meth:`InvariantProjection.check_invariance` asserts ``pi(g . z) == pi(z)`` to a stated
tolerance.  ``tests/projections/test_contract.py`` finds every subclass with
:func:`concrete_projections` and runs :meth:`InvariantProjection.check_contract` on it, so a
new projection that does not provide these fails that test instead of going unchecked.

Every projection is a ``torch.nn.Module`` (it goes after an encoder, in ``nn.Sequential``, and
moves with ``.to(device)``) built from a layout (:mod:`eqlatent.projections.layouts`: a node
latent, an escnn FieldType, the studies' image layouts); the two family bases,
:class:`~eqlatent.projections.field_projection.FieldProjection` and
:class:`~eqlatent.projections.node_projection.NodeProjection`, say how each layout's latents come
in.  A projection's ``name`` is its one name everywhere: its module, its class (in CamelCase), its
config ``configs/projection/<name>.yaml`` and the registry (:mod:`eqlatent.projections.registry`)
that turns the name into the class.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import warnings
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Iterable, Mapping

import torch
from torch import Tensor

from eqlatent.errors import LatentShapeError

if TYPE_CHECKING:
    from eqlatent.groups.samplers import GroupSampler

Meta = Mapping[str, Tensor]

#: packages whose modules :func:`concrete_projections` imports before collecting subclasses
PROJECTION_PACKAGES = ("eqlatent.projections",)
#: a baseline that claims NOT to be invariant must move by more than this under a sampled element
NOT_INVARIANT_MARGIN = 1e-3


class InvariantProjection(torch.nn.Module, ABC):
    """Map a batch of equivariant latents to group-invariant vectors: a ``torch.nn.Module``.

    Subclasses set the class attributes below and implement :meth:`project`.

    Attributes
    ----------
    name:
        The projection's one name: its module, its config, its row in tables and plots, and what the
        registry (:mod:`eqlatent.projections.registry`) resolves to its class.
    group:
        Which group action the projection removes, in words (e.g. ``"S_n: node
        permutations"`` or ``"C_N: cyclic shifts of the regular representation"``).
    lossless:
        True when the projection is injective on orbits for the latent layout it
        documents.  Tests check this claim.
    latent_ndim:
        Number of dimensions the batched latent must have (batch axis included).
    invariant:
        True (the default) for a projection that removes ``group``; False only for the
        baselines that keep the raw latent (``identity``), which the check then requires
        to move under the group.
    layouts:
        The layouts (:data:`eqlatent.projections.layouts.LAYOUTS`) it can be built from; the
        registry lists a projection under a layout only when it names it here.

    Every concrete subclass also defines :meth:`example_latent` and :meth:`group_sampler`
    (the family bases :class:`~eqlatent.projections.node_projection.NodeProjection` and
    :class:`~eqlatent.projections.field_projection.FieldProjection` do it per layout), and
    overrides :meth:`examples` when ``cls()`` alone does not cover its layouts or modes.
    """

    name: str = "base"
    group: str = "unspecified"
    lossless: bool = False
    latent_ndim: int = 3
    invariant: bool = True
    layouts: tuple[str, ...] = ()

    def __init__(self) -> None:
        super().__init__()

    def forward(self, z: Tensor, meta: Meta | None = None) -> Tensor:
        """Check the latent's layout, then project it; returns ``[batch, features]``."""
        self.check_latent(z)
        return self.project(z, meta or {})

    @property
    def method(self) -> str:
        """Deprecated: a projection's name is :attr:`name` (``method`` was the toolkit modules' word for it)."""
        warnings.warn(f"{type(self).__name__}.method is now called name", DeprecationWarning, stacklevel=2)
        return self.name

    @classmethod
    def supports(cls, layout: str) -> bool:
        """Whether this projection can be built for latents of the layout named ``layout``."""
        return layout in cls.layouts

    def check_latent(self, z: Tensor) -> None:
        """Raise :class:`LatentShapeError` (one line) if ``z`` has the wrong layout."""
        if not isinstance(z, Tensor):
            raise LatentShapeError(
                f"projection '{self.name}' got a {type(z).__name__}, not a torch.Tensor",
                "pass the latent as a tensor (torch.as_tensor(z))",
            )
        if z.ndim != self.latent_ndim:
            raise LatentShapeError(
                f"projection '{self.name}' needs a latent with {self.latent_ndim} dims "
                f"{self.layout()}, got shape {tuple(z.shape)}",
                "reshape the latent to that layout or pick a projection made for it",
            )
        if not torch.is_floating_point(z):
            raise LatentShapeError(
                f"projection '{self.name}' needs a floating-point latent, got {z.dtype}",
                "cast with z.float()",
            )

    def layout(self) -> str:
        """Human-readable latent layout, used in error messages."""
        return "[batch, ...]"

    @abstractmethod
    def project(self, z: Tensor, meta: Meta) -> Tensor:
        """Return the invariant ``[batch, features]`` tensor for a checked latent."""

    def __repr__(self) -> str:
        """One line (errors quote it): name, group, lossless or lossy, and the module's ``extra_repr``."""
        kind = "lossless" if self.lossless else "lossy"
        extra = self.extra_repr()
        return f"{type(self).__name__}(name={self.name!r}, group={self.group!r}, {kind}{', ' + extra if extra else ''})"

    # -- invariance on the contract -------------------------------------------------------

    @classmethod
    def examples(cls) -> list["InvariantProjection"]:
        """The instances :meth:`check_contract` checks: ``[cls()]``; override to cover every layout and mode."""
        return [cls()]

    def example_latent(self, generator: torch.Generator) -> Tensor:
        """A random float64 latent of this projection's layout (``[batch, ...]``), drawn from ``generator``."""
        raise NotImplementedError(_missing(type(self), "example_latent"))

    def group_sampler(self, z: Tensor) -> "GroupSampler":
        """A :mod:`~eqlatent.groups.samplers` sampler: random elements of ``group`` acting on latents like ``z``."""
        raise NotImplementedError(_missing(type(self), "group_sampler"))

    def invariance_atol(self, z: Tensor) -> float:
        """Largest ``|pi(g . z) - pi(z)|`` the projection promises on ``z``: 1e-10 in float64, 1e-5 otherwise.

        Exact projections (finite groups, closed-form SO(2)) only reorder or rotate the same
        numbers; a projection that is invariant only up to a known bound overrides this.
        """
        return 1e-10 if z.dtype == torch.float64 else 1e-5

    def check_invariance(self, z: Tensor | None = None, atol: float | None = None, n_samples: int = 8,
                         seed: int = 0) -> float:
        """Assert ``pi(g . z) == pi(z)`` for ``n_samples`` random ``g``; return the worst error.

        ``z`` defaults to :meth:`example_latent` (seeded by ``seed``), ``atol`` to
        :meth:`invariance_atol`.  A baseline with ``invariant = False`` must instead move by
        more than ``NOT_INVARIANT_MARGIN``.  Failures are ``AssertionError`` with the measured error.

        Examples
        --------
        >>> from eqlatent.projections.sort import Sort
        >>> Sort().check_invariance() <= 1e-10
        True
        """
        from eqlatent.groups.equivariance import invariance_error

        gen = torch.Generator().manual_seed(seed)
        z = self.example_latent(gen) if z is None else z
        err = invariance_error(self, z, self.group_sampler(z), n_samples, seed)
        if not self.invariant:
            if not err > NOT_INVARIANT_MARGIN:
                raise AssertionError(f"{self!r} claims invariant=False but max |pi(g.z) - pi(z)| = {err:.3g} "
                                     f"<= {NOT_INVARIANT_MARGIN:g}: set invariant = True")
            return err
        atol = self.invariance_atol(z) if atol is None else atol
        if not err <= atol:
            raise AssertionError(f"{self!r} is not invariant: max |pi(g.z) - pi(z)| = {err:.3g} > atol {atol:.3g} "
                                 f"over {n_samples} elements of {self.group!r}")
        return err

    @classmethod
    def check_contract(cls, n_samples: int = 8, seed: int = 0) -> list[tuple["InvariantProjection", float]]:
        """Run :meth:`check_invariance` on every one of :meth:`examples`; ``[(instance, worst error)]``.

        Raises ``AssertionError`` naming what to add when the class cannot be checked.
        """
        missing = [m for m in ("example_latent", "group_sampler")
                   if getattr(cls, m) is getattr(InvariantProjection, m)]
        if missing:
            raise AssertionError(_missing(cls, *missing))
        try:
            instances = cls.examples()
        except TypeError as err:  # cls() needs arguments
            raise AssertionError(f"{cls.__module__}.{cls.__qualname__}: cls() failed ({err}); override the "
                                 f"classmethod examples() to return instances covering its layouts and modes") from err
        if not instances:
            raise AssertionError(f"{cls.__qualname__}.examples() returned no instance to check")
        out = []
        for proj in instances:
            try:
                out.append((proj, proj.check_invariance(n_samples=n_samples, seed=seed)))
            except NotImplementedError as err:  # e.g. a layout with no group action on the latent
                raise AssertionError(f"{proj!r}: {err}") from err
        return out


def _missing(cls: type, *methods: str) -> str:
    return (f"{cls.__module__}.{cls.__qualname__} does not define {' and '.join(m + '()' for m in methods)}, so its "
            f"invariance cannot be checked: add example_latent(generator) -> a random float64 latent of its layout "
            f"and group_sampler(z) -> an eqlatent.groups.samplers sampler of the group it removes (or derive from "
            f"NodeProjection / FieldProjection, which define both)")


def concrete_projections(packages: Iterable[str] = PROJECTION_PACKAGES) -> list[type[InvariantProjection]]:
    """Every non-abstract :class:`InvariantProjection` subclass defined in ``packages`` (modules imported first).

    Abstract intermediate bases (``inspect.isabstract``: they leave :meth:`project` abstract)
    are left out; everything else is returned, sorted by qualified name.
    """
    packages = tuple(packages)
    for name in packages:
        module = importlib.import_module(name)
        for info in pkgutil.walk_packages(getattr(module, "__path__", []), name + "."):
            importlib.import_module(info.name)
    found, stack = set(), [InvariantProjection]
    while stack:
        for sub in stack.pop().__subclasses__():
            stack.append(sub)
            if not inspect.isabstract(sub) and any(sub.__module__ == p or sub.__module__.startswith(p + ".")
                                                   for p in packages):
                found.add(sub)
    return sorted(found, key=lambda c: f"{c.__module__}.{c.__qualname__}")
