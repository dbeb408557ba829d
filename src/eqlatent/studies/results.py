"""What a finished study run measured, as typed results: the schema of ``metrics.json``.

Each study's results are one small dataclass whose fields are the top-level keys of its
``metrics.json`` (:class:`MoleculesResults`, :class:`ImagesResults`); the nested
measurements under them (per latent size, per encoder) stay plain JSON, as each study's
report module documents (``claim1_report``, ``claims23_report``).  Every paper claim is decided into
one :class:`Verdict`.
``from_json`` also reads the files of runs made before these types existed: claim 1 was
stored as ``{held, text, ...}`` and claims 2 and 3 as ``{evaluated, holds, ...}``.

This module is light (no torch): the cross-run report imports it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Mapping, TypeVar

R = TypeVar("R", bound="StudyResults")   # typing.Self needs Python 3.11; the package supports 3.10


def wall_time_text(wall_s: float, earlier_s: float = 0.0) -> str:
    """``"645 s"``, or ``"5,400 s, 3,100 s of it training in earlier processes (resumed or reused checkpoints)"``.

    ``wall_s`` already includes ``earlier_s`` (:meth:`eqlatent.studies.skeleton.StudyRun.wall_s`);
    saying how much keeps a resumed run's time readable as what the result cost.
    """
    text = f"{wall_s:,.0f} s"
    if earlier_s >= 0.5:
        text += f", {earlier_s:,.0f} s of it training in earlier processes (resumed or reused checkpoints)"
    return text


@dataclass
class Verdict:
    """One paper claim decided on one run: ``held`` is ``None`` when the run could not test it.

    ``text`` says why, in the words ``results.md`` uses; ``details`` holds the numbers the
    rule was applied to (stored beside ``claim``/``evaluated``/``held``/``text`` in metrics.json).
    """

    claim: str
    held: bool | None
    text: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def evaluated(self) -> bool:
        return self.held is not None

    def to_json(self) -> dict[str, Any]:
        return {"claim": self.claim, "evaluated": self.evaluated, "held": self.held, "text": self.text,
                **self.details}

    @classmethod
    def from_json(cls, claim: str, data: Mapping[str, Any]) -> Verdict:
        """Read a stored verdict, in this layout or in either older one."""
        details = dict(data)
        details.pop("claim", None)
        evaluated = details.pop("evaluated", None)
        held = details.pop("held", None)
        holds = details.pop("holds", None)
        held = held if held is not None else holds
        if evaluated is False:
            held = None
        return cls(claim, None if held is None else bool(held), str(details.pop("text", "")), details)


@dataclass
class StudyResults:
    """Base of a study's results: fields are metrics.json's top-level keys; ``verdict_keys`` maps a key to its claim.

    Keys a subclass does not declare (``missing_artefacts``, or a newer study version's) are
    kept in ``extra`` and written back, so loading and saving loses nothing.
    """

    verdict_keys: ClassVar[dict[str, str]] = {}
    extra: dict[str, Any] = field(default_factory=dict, kw_only=True)

    def verdicts(self) -> list[Verdict]:
        """The run's verdict on every claim it decides, in claim order."""
        return [getattr(self, key) for key in self.verdict_keys if getattr(self, key) is not None]

    def to_json(self) -> dict[str, Any]:
        out = {}
        for f in fields(self):
            if f.name != "extra":
                value = getattr(self, f.name)
                out[f.name] = value.to_json() if isinstance(value, Verdict) else value
        return {**out, **self.extra}

    @classmethod
    def from_json(cls: type[R], data: Mapping[str, Any]) -> R:
        names = {f.name for f in fields(cls)} - {"extra"}
        kwargs = {k: (Verdict.from_json(cls.verdict_keys[k], v) if k in cls.verdict_keys and v is not None else v)
                  for k, v in data.items() if k in names}
        return cls(**kwargs, extra={k: v for k, v in data.items() if k not in names})


@dataclass
class MoleculesResults(StudyResults):
    """The molecules study (claim 1); ``latent_dims``: latent size ``"d"`` -> what ``analyse_latent_dim`` measured."""

    verdict_keys: ClassVar[dict[str, str]] = {"claim1": "1"}
    run_name: str = ""
    dataset: dict[str, Any] = field(default_factory=dict)
    model: str = ""
    epochs: int = 0
    analysis_latent: str = "mean"
    n_eval: int = 0
    probe_targets: list[str] = field(default_factory=list)
    latent_dims: dict[str, dict[str, Any]] = field(default_factory=dict)
    ceiling: dict[str, Any] | None = None
    figures: list[str] = field(default_factory=list)
    train_time_s: float = 0.0
    wall_time_s: float = 0.0
    earlier_time_s: float = 0.0
    claim1: Verdict | None = None

    def to_json(self) -> dict[str, Any]:
        out = super().to_json()
        if self.ceiling is None:     # runs made before the ceiling was measured have no such key
            out.pop("ceiling")
        if not self.earlier_time_s:  # written only when earlier processes trained part of the run (0: absent)
            out.pop("earlier_time_s")
        return out


@dataclass
class ImagesResults(StudyResults):
    """The images study (claims 2 and 3); ``metrics``: encoder -> projection -> numbers (``analyse_encoder``)."""

    verdict_keys: ClassVar[dict[str, str]] = {"claim2": "2", "claim3": "3"}
    info: dict[str, Any] = field(default_factory=dict)
    encoders: dict[str, dict[str, Any]] = field(default_factory=dict)
    metrics: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    random_k_curves: dict[str, list[dict[str, float]]] = field(default_factory=dict)
    claim2: Verdict | None = None
    claim3: Verdict | None = None
    figures: list[str] = field(default_factory=list)


@dataclass
class Molecules3DResults(StudyResults):
    """The QM9-3D study (claim 2 on O(3)); ``metrics``: projection -> numbers (``molecules_3d.analysis.analyse``).

    ``model``: the trained regressor (irreps, test MAE per target, published MAEs, learning curve);
    ``encoder_checks``: its equivariance measured on real molecules; ``balanced``: retention on the latent with
    every irrep type at the same variance; ``checks``: what the verdict stands on.
    """

    verdict_keys: ClassVar[dict[str, str]] = {"claim2_o3": "2 on O(3)"}
    info: dict[str, Any] = field(default_factory=dict)
    model: dict[str, Any] = field(default_factory=dict)
    encoder_checks: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    random_k_curve: list[dict[str, float]] = field(default_factory=list)
    balanced: dict[str, Any] = field(default_factory=dict)
    probe_targets: list[str] = field(default_factory=list)
    checks: dict[str, Any] = field(default_factory=dict)
    claim2_o3: Verdict | None = None
    figures: list[str] = field(default_factory=list)
