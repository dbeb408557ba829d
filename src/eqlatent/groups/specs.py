"""What ``group_or_field_type`` means: an escnn FieldType, an escnn group, or a name like ``"C8"``.

Why a resolver: the distance and retention functions take "the group" in whatever form a
researcher has at hand and must agree on how it acts.  Everything resolves either to the
node-permutation group ``"S_n"`` (latents ``[nodes, d]``) or to a
:class:`~eqlatent.groups.actions.FieldAction` on flat ``[B, D]`` latents:

* an escnn ``FieldType``: its own action;
* an escnn group or a name ``C<N>`` / ``D<N>``: ``D / |G|`` regular fields (the layout of
  the studies' C_N encoders ``[B, C, N]``, flattened);
* ``"SO2"``: fields of irreps 0..L in escnn's basis, ``[B, C, 1+2L]`` (the studies' SO(2)
  layout); O(2) needs its FieldType (no default layout);
* a field-type spec ``"<group>: <fields>"`` (:func:`parse_field_type`), e.g.
  ``"C4: 4 regular + 2 trivial"`` or ``"SO2: irrep0 + 2*irrep1 + irrep2"``: the escnn FieldType
  it names, for mixed field types where no FieldType object is at hand (the command line);
* an e3nn ``Irreps`` or an irreps spec ``"SO3: 8x0e + 4x1o"`` / ``"O3: ..."``
  (:func:`eqlatent.groups.o3.is_irreps`): SO(3) / O(3) on e3nn latents, acted on by
  :class:`~eqlatent.groups.o3.IrrepsAction`, not a FieldAction.

The names ``C<N>`` and ``SO2`` are the studies' own layouts, so :func:`resolve_action` builds
their actions from :mod:`eqlatent.groups.layouts` without escnn (the same matrices, cached).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from eqlatent.errors import ConfigError, LatentShapeError
from eqlatent.groups.actions import FieldAction
from eqlatent.groups.field_types import action_from_field_type, band_limit, circle_kind, import_escnn
from eqlatent.groups.layouts import irreps_action, irreps_max_frequency, regular_action
from eqlatent.groups.o3 import is_irreps

PERMUTATION_NAMES = {"s_n", "sn", "s", "perm", "permutation", "permutations"}
GROUP_NAMES = "C<N> (e.g. C8), D<N> (e.g. D4), SO2, O2 (FieldType only) or S_n"
#: how to build the FieldType a GSpace or a group was passed for (the common slip: ``gspaces.rot2dOnR2(8)``)
FIELD_TYPE_FIX = ("pass the latent's escnn FieldType: encoder.out_type, or nn.FieldType(gspace, "
                  "[gspace.regular_repr, ...]) listing the latent's fields, or a spec such as 'C8: 2 regular + 1 trivial'")
#: the refined maximum over SO(2) / O(2) needs at least this many grid angles per interpolation node (2L+1)
ANGLES_PER_NODE = 4
#: grid angles when none are asked for (raised to ANGLES_PER_NODE * (2L+1) for band limits above 7)
DEFAULT_ANGLES = 64


def is_permutation_group(spec: Any) -> bool:
    return isinstance(spec, str) and spec.strip().lower().replace("(", "").replace(")", "") in PERMUTATION_NAMES


def is_field_type(obj: Any) -> bool:
    """Whether ``obj`` is an escnn ``FieldType`` (duck-typed: escnn is imported only when used)."""
    return hasattr(obj, "gspace") and hasattr(obj, "representations") and hasattr(obj, "size")


def _is_gspace(obj: Any) -> bool:
    return hasattr(obj, "fibergroup") and not is_field_type(obj)


def as_field_type(obj: Any, who: str) -> Any:
    """The escnn ``FieldType`` ``obj`` names (a FieldType, or a spec string); a one-line error otherwise.

    ``who`` is the function asking, for the message.  A GSpace or a group (the common slips)
    gets the fix that builds the FieldType from it.
    """
    if is_field_type(obj):
        return obj
    if is_field_type_spec(obj):
        return parse_field_type(obj)
    name = type(obj).__name__
    if _is_gspace(obj):  # an escnn GSpace: it has no latent size
        raise ConfigError(f"{who} needs the latent's escnn FieldType, got the GSpace {name} ({obj.name})",
                          FIELD_TYPE_FIX)
    if hasattr(obj, "irreps") and hasattr(obj, "continuous"):  # an escnn Group
        raise ConfigError(f"{who} needs the latent's escnn FieldType, got the group {name}", FIELD_TYPE_FIX)
    raise ConfigError(f"{who} needs an escnn FieldType or a field-type spec string, got {name}",
                      f"{FIELD_TYPE_FIX}; for node latents use eqlatent.project_nodes")


def check_group_argument(spec: Any, who: str) -> None:
    """A one-line error for a ``group_or_field_type`` no group can be read from (a GSpace, a number ...)."""
    if isinstance(spec, str) or is_field_type(spec) or is_irreps(spec):
        return
    if _is_gspace(spec):
        raise ConfigError(f"{who} needs the latent's FieldType or group, got the GSpace {type(spec).__name__} "
                          f"({spec.name}), which does not say how the latent's channels transform",
                          f"{FIELD_TYPE_FIX} (or the group alone: gspace.fibergroup, for its default layout)")
    if not (hasattr(spec, "irreps") and hasattr(spec, "continuous")):
        raise ConfigError(f"{who} cannot use a {type(spec).__name__} as group_or_field_type",
                          f"pass 'S_n', an escnn FieldType, an escnn group or a name: {GROUP_NAMES}")


def grid_angles(band: int, n_angles: int | None) -> int:
    """The grid size over SO(2) / O(2) for band limit ``band``: ``n_angles`` checked, or the default.

    Why a floor: the refined maximum starts Newton's method at the grid's highest peaks; a
    grid too coarse for the band limit can hide the peak that holds the maximum.  Measured on
    20,000 random degree-L trigonometric polynomials (Gaussian coefficients) for every n_angles
    in each range, L = 2, 3, 5, 8, share of maxima missed by more than 1e-9 (worst miss):
    n_angles in [1, 2)(2L+1): ~3e-3 (up to 3); [2, 3)(2L+1): ~1e-4 (up to 0.1); [3, 4)(2L+1):
    up to 2e-5 (9e-3); [4, 6](2L+1): none at L = 2, 3, 8, and 6.5e-6 at L = 5 (7e-3).  On
    random latents ``n_angles=8`` at L = 3 gave invariance errors of 0.32, 28 = 4(2L+1) gave
    5e-15.  So ``n_angles >= 4(2L+1)`` is required, and the default is ``max(64, 4(2L+1))``.
    """
    least = ANGLES_PER_NODE * (2 * band + 1)
    if n_angles is None:
        return max(DEFAULT_ANGLES, least)
    if band > 0 and int(n_angles) < least:
        raise ConfigError(f"n_angles={n_angles} is too coarse for band limit L={band}: the maximum over rotations "
                          f"needs n_angles >= 4(2L+1) = {least} (a coarser grid can miss the highest peak)",
                          f"pass n_angles={least} or more, or leave it None (max(64, 4(2L+1)))")
    return int(n_angles)


def _parse_name(name: str) -> tuple[str, int]:
    """``("C", 8)``, ``("D", 4)``, ``("SO2", 0)`` or ``("O2", 0)``; one-line error otherwise."""
    key = name.strip().upper().replace("(", "").replace(")", "").replace("_", "")
    match = re.fullmatch(r"([CD])(\d+)", key)
    if match and int(match.group(2)) >= 1:
        return match.group(1), int(match.group(2))
    if key in ("SO2", "O2"):
        return key, 0
    raise ConfigError(f"unknown group '{name}'", f"use {GROUP_NAMES}, or pass an escnn FieldType")


def escnn_group(name: str) -> Any:
    """The escnn group for ``"C8"``, ``"D4"``, ``"SO2"``, ``"O2"``; one-line error otherwise."""
    kind, n = _parse_name(name)
    group_mod = import_escnn().group
    return {"C": lambda: group_mod.cyclic_group(n), "D": lambda: group_mod.dihedral_group(n),
            "SO2": group_mod.so2_group, "O2": group_mod.o2_group}[kind]()


def _irreps_layout(latent_shape: tuple[int, ...]) -> tuple[int, int]:
    """``(fields, 1 + 2L)`` of an SO(2) latent named by its group; one-line error otherwise."""
    size = int(latent_shape[-1]) if len(latent_shape) == 3 else -1
    if size < 1 or size % 2 == 0:
        raise LatentShapeError(f"SO(2) by name needs latents [n, fields, 1+2L], got {tuple(latent_shape)}",
                               "reshape to [n, fields, 1+2L] (irreps 0..L per field) or pass the FieldType")
    return int(latent_shape[1]), size


def _regular_fields(group_name: str, order: int, latent_shape: tuple[int, ...]) -> int:
    """How many regular fields of a group of ``order`` elements the latents hold; one-line error otherwise."""
    dim = 1
    for s in latent_shape[1:]:
        dim *= int(s)
    if dim % order:
        raise LatentShapeError(f"a {group_name} latent of regular fields needs a multiple of {order} numbers, got {dim}",
                               "pass the escnn FieldType of the latent instead of the group name")
    return dim // order


def field_type_for(spec: Any, latent_shape: tuple[int, ...]) -> Any:
    """The escnn ``FieldType`` of latents of ``latent_shape`` (batch axis first) under ``spec``."""
    if is_field_type_spec(spec):
        return parse_field_type(spec)
    if is_field_type(spec):
        return spec
    group = escnn_group(spec) if isinstance(spec, str) else spec
    if not hasattr(group, "continuous"):
        raise ConfigError(f"cannot use a {type(spec).__name__} as a group",
                          f"pass an escnn FieldType, an escnn group or a name: {GROUP_NAMES}")
    escnn = import_escnn()
    if circle_kind(group) == "SO(2)":
        fields, size = _irreps_layout(latent_shape)
        band = (size - 1) // 2
        rep = escnn.group.directsum([group.irrep(k) for k in range(band + 1)], name=f"irreps_0_to_{band}")
        return escnn.nn.FieldType(escnn.gspaces.no_base_space(group), [rep] * fields)
    if group.continuous:
        raise ConfigError(f"group {group.name} has no default latent layout",
                          "pass the escnn FieldType of the latent instead of the group")
    fields = _regular_fields(group.name, group.order(), latent_shape)
    return escnn.nn.FieldType(escnn.gspaces.no_base_space(group), [group.regular_representation] * fields)


def resolve_action(spec: Any, latent_shape: tuple[int, ...], n_angles: int | None = None) -> FieldAction:
    """The :class:`FieldAction` for latents of ``latent_shape`` (batch axis first) under ``spec``.

    ``n_angles`` (circle groups): the grid of the maximum over rotations, checked by :func:`grid_angles`.
    """
    if isinstance(spec, str) and not is_field_type_spec(spec):
        kind, n = _parse_name(spec)
        if kind == "C":  # the studies' regular layout: no escnn needed
            return regular_action(_regular_fields(f"C{n}", n, latent_shape), n)
        if kind == "SO2":  # the studies' irreps layout
            fields, size = _irreps_layout(latent_shape)
            return irreps_action(fields, size, grid_angles(irreps_max_frequency(size), n_angles))
    field_type = field_type_for(spec, latent_shape)
    return action_from_field_type(field_type, grid_angles(band_limit(field_type), n_angles))


# -- field-type specs -------------------------------------------------------------------------------

SPEC_GRAMMAR = ("'<group>: <term> + <term> ...' with <group> C<N>, D<N>, SO2 or O2 and each <term> "
                "'[<count>[*]] regular | trivial | irrep<k> | irrep(<j>,<k>)', e.g. 'C4: 4 regular + 2 trivial'")
_TERM = re.compile(r"(?:(?P<count>\d+)\s*\*?\s*)?(?P<rep>[a-z_]+)\s*(?P<args>\d+|\(\s*\d+\s*(?:,\s*\d+\s*)?\))?",
                   re.IGNORECASE)


def is_field_type_spec(spec: Any) -> bool:
    """Whether ``spec`` is a field-type spec string (``"<group>: <fields>"``) rather than a group name."""
    return isinstance(spec, str) and ":" in spec


def _irrep_names(group: Any) -> str:
    if group.continuous:
        return "irrep<k> (k = 0, 1, ...)" if circle_kind(group) == "SO(2)" else "irrep(0,0), irrep(1,k) (k >= 1), ..."
    ids = [irr.id for irr in group.irreps()]
    return ", ".join(f"irrep{i[0]}" if len(i) == 1 else f"irrep({','.join(map(str, i))})" for i in ids)


def _representation(group: Any, term: str, spec: str) -> tuple[int, Any]:
    """``(count, escnn representation)`` of one term such as ``"4 regular"`` or ``"2*irrep(1,1)"``."""
    match = _TERM.fullmatch(term)
    name = match.group("rep").lower() if match else ""
    if not match or name not in ("regular", "trivial", "irrep") or (name == "irrep") != bool(match.group("args")):
        raise ConfigError(f"cannot read '{term}' in field-type spec '{spec}'", f"write {SPEC_GRAMMAR}")
    count = int(match.group("count") or 1)
    if count < 1:
        raise ConfigError(f"count {count} in '{term}' of field-type spec '{spec}'", "give each term a count >= 1")
    if name == "trivial":
        return count, group.trivial_representation
    if name == "regular":
        if group.continuous:
            raise ConfigError(f"{group.name} has no regular representation (an infinite group), in '{spec}'",
                              f"use its irreps: {_irrep_names(group)}")
        return count, group.regular_representation
    args = tuple(int(a) for a in re.findall(r"\d+", match.group("args")))
    try:
        return count, group.irrep(*args)
    except Exception:  # noqa: BLE001 - escnn raises AssertionError / KeyError / TypeError for a wrong id
        raise ConfigError(f"{group.name} has no irrep {term.split('irrep', 1)[-1].strip()} ('{term}' in '{spec}')",
                          f"use one of {_irrep_names(group)}") from None


@lru_cache(maxsize=64)
def parse_field_type(spec: str) -> Any:
    """The escnn ``FieldType`` a spec string names, e.g. ``"C4: 4 regular + 2 trivial"``.

    Why a string: the command line (and a config file) cannot hold a FieldType object, and a
    latent with mixed fields cannot be described by a group name alone.  Grammar::

        spec := <group> ":" <term> ("+" <term>)*
        group := C<N> | D<N> | SO2 | O2               (as for a group name)
        term := [<count> ["*"]] <rep>                 ("4 regular", "4*regular", "regular")
        rep  := regular | trivial | irrep<k> | irrep(<k>) | irrep(<j>,<k>)

    ``irrep<k>`` is escnn's ``group.irrep(k)`` (C_N, SO(2): frequency k); D_N and O(2) irreps
    take two numbers, ``irrep(j,k)`` = ``group.irrep(j, k)``.  Fields are laid out in the order
    written (``4 regular + 2 trivial``: channels 0..15 regular, 16 and 17 trivial), on
    ``no_base_space`` (one vector per sample, ``[n, C]``).  Bad specs raise a one-line
    :class:`~eqlatent.errors.ConfigError`.

    Examples
    --------
    >>> parse_field_type("C4: 4 regular + 2 trivial").size
    18
    >>> parse_field_type("SO2: irrep0 + 2*irrep1 + irrep2").size   # 1 + 2 * 2 + 2
    7
    """
    if not is_field_type_spec(spec):
        raise ConfigError(f"field-type spec '{spec}' has no ':' after the group", f"write {SPEC_GRAMMAR}")
    if is_irreps(spec):
        raise ConfigError(f"'{spec}' names e3nn irreps (SO(3) / O(3)), not an escnn FieldType",
                          "pass it where e3nn latents are taken (eqlatent.quotient_distance), or read it with "
                          "eqlatent.groups.o3.parse_irreps_spec")
    name, fields = spec.split(":", 1)
    group = escnn_group(name)
    terms = [t.strip() for t in fields.split("+")]
    if not any(terms):
        raise ConfigError(f"field-type spec '{spec}' lists no fields", f"write {SPEC_GRAMMAR}")
    reps = []
    for term in terms:
        count, rep = _representation(group, term, spec)
        reps += [rep] * count
    escnn = import_escnn()
    return escnn.nn.FieldType(escnn.gspaces.no_base_space(group), reps)
