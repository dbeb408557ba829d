"""The molecules study (claim 1): equivariant graph VAE on QM9 -> node projections -> what they keep.

A package because the study has several steps, one module each (training, node_retention,
property_probes, reconstruction, interpolation, ceiling, figures, claim1_report); ``run`` is re-exported
here so that ``study: eqlatent.studies.molecules.run`` in the configs names the pipeline.
"""

from eqlatent.studies.molecules.study import run

__all__ = ["run"]
