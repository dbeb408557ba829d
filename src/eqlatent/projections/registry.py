"""The one place a projection's name becomes its class: every config, the toolkit, the CLI and the studies ask here.

As PyG's ``aggregation_resolver`` does for its aggregations, the names come from the classes
themselves (each one's ``name``), collected from the modules of :data:`PROJECTION_MODULES`, so a
name cannot drift from its class; and an object that already is a projection passes through
unchanged.  A projection's name is also its module (``projections/<name>.py``), its class (the
name in CamelCase) and its config (``configs/projection/<name>.yaml``); ``tests/projections``
checks all four agree and that no projection class stays out of this list.

The modules are imported by name when the registry is first asked (:func:`projection_classes`), not
when it is imported: a family base such as :class:`~eqlatent.projections.node_projection.NodeProjection`
(``NodeProjection("lex_sort")`` builds the projection of that name) can import the registry without
any module importing itself back.

Which names suit which latents is the classes' own answer too: a projection lists the layouts it
can be built from (``layouts``, :mod:`eqlatent.projections.layouts`), and :func:`projection_names`
filters by them -- ``"field_type"`` for :func:`eqlatent.invariant_projection` on an escnn field type,
``"e3nn"`` for it on e3nn irreps, ``"nodes"`` for :func:`eqlatent.project_nodes`, ``"regular"`` ... for
the studies' image encoders.

Examples
--------
>>> from eqlatent.projections.registry import build_projection, projection_class, projection_names
>>> projection_class("lex_sort").__name__
'LexSort'
>>> projection_names("nodes")
('sort', 'lex_sort', 'channel_sort', 'mixing_sort', 'sum_pool', 'mean_pool', 'max_pool')
>>> build_projection("norm", layout="irreps")(__import__("torch").zeros(2, 3, 5)).shape
torch.Size([2, 9])
"""

from __future__ import annotations

import importlib
import warnings
from functools import lru_cache
from typing import Any

from eqlatent.errors import ConfigError
from eqlatent.projections.base import InvariantProjection
from eqlatent.projections.layouts import as_layout

#: one module per projection, named as it; the order is the order users see the names in
PROJECTION_MODULES = ("random_invariant", "norm", "group_pool_max", "group_pool_mean", "canonicalize",
                      "scalars", "gram",
                      "sort", "lex_sort", "channel_sort", "mixing_sort", "sum_pool", "mean_pool", "max_pool",
                      "identity", "identity_field", "orbit_average", "orbit_max")
#: names of earlier releases -> the one name now (refused with a one-line error naming it)
RENAMED = {"random": "random_invariant", "pool": "group_pool_max' or 'group_pool_mean",
           "sum": "sum_pool", "mean": "mean_pool", "max": "max_pool",
           "field_norm": "norm", "flatten": "identity_field"}
#: how an error names the projections of a layout
KIND = {"field_type": "invariant projection", "nodes": "node projection", "e3nn": "invariant projection"}


def camel(name: str) -> str:
    """The class name of a projection name: ``"lex_sort"`` -> ``"LexSort"``."""
    return "".join(part.capitalize() for part in name.split("_"))


@lru_cache(maxsize=1)
def projection_classes() -> dict[str, type[InvariantProjection]]:
    """``name -> class`` of every projection, in the order of :data:`PROJECTION_MODULES`."""
    out: dict[str, type[InvariantProjection]] = {}
    for module_name in PROJECTION_MODULES:
        module = importlib.import_module(f"eqlatent.projections.{module_name}")
        cls = getattr(module, camel(module_name), None)
        if not (isinstance(cls, type) and issubclass(cls, InvariantProjection)) or cls.name != module_name:
            raise RuntimeError(f"eqlatent.projections.{module_name} must define the projection class "
                               f"{camel(module_name)} with name = {module_name!r}")
        out[cls.name] = cls
    return out


def projection_names(layout: str | None = None) -> tuple[str, ...]:
    """The names of the projections that can be built for ``layout`` (a layout name; None: every projection)."""
    return tuple(name for name, cls in projection_classes().items() if layout is None or cls.supports(layout))


def projection_class(name: str, layout: str | None = None) -> type[InvariantProjection]:
    """The class named ``name``, among those for ``layout``; a one-line :class:`ConfigError` naming the choices otherwise."""
    kind = KIND.get(layout, "projection")
    choices = projection_names(layout)
    if not isinstance(name, str):
        raise ConfigError(f"a {kind} is named by a string, got {type(name).__name__}",
                          f"use one of {', '.join(choices)}")
    if name in RENAMED:
        raise ConfigError(f"{kind} '{name}' is now called '{RENAMED[name]}'", f"pass projection='{RENAMED[name]}'")
    if name not in choices:
        where = f" for '{layout}' latents" if layout and name in projection_classes() else ""
        raise ConfigError(f"unknown {kind} '{name}'{where}", f"use one of {', '.join(choices)}")
    return projection_classes()[name]


def build_projection(projection: Any, layout: Any = None, **kwargs: Any) -> InvariantProjection:
    """``projection`` itself if it is a projection already, else the projection of that name built for ``layout``.

    ``layout``: a layout name, an escnn FieldType or a Layout (:func:`eqlatent.projections.layouts.as_layout`);
    None for a node projection or ``identity``, which take no layout.  ``kwargs`` go to the class
    (e.g. ``n_functionals`` of ``random_invariant``).
    """
    if isinstance(projection, InvariantProjection):
        return projection
    built = None if layout is None else as_layout(layout, kwargs.get("n_angles"))
    cls = projection_class(projection, None if built is None else built.name)
    return cls(**kwargs) if built is None else cls(layout=built, **kwargs)


def projection_argument(projection: str | None, method: str | None, default: str | None = None) -> str | None:
    """The projection's name from ``projection=``, the one parameter name for it, or the deprecated ``method=``.

    ``method=`` (the toolkit's earlier word) gives a DeprecationWarning naming ``projection=``; both at once
    with different names is a one-line error.  ``default`` when neither is given.
    """
    if method is not None:
        if projection is not None and projection != method:
            raise ConfigError(f"both projection={projection!r} and method={method!r} given",
                              "pass projection= only (method= is its old name)")
        warnings.warn(f"method= is now called projection= (pass projection={method!r})", DeprecationWarning, stacklevel=3)
        projection = method
    return default if projection is None else projection
