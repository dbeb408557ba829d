"""The QM9-3D study (claim 2 on O(3)): an O(3)-equivariant e3nn encoder on QM9's DFT geometries -> projections.

A package because the study has several steps, one module each (latents, analysis, figures,
claim_o3_report, published); ``run`` is re-exported here so that ``study: eqlatent.studies.molecules_3d.run``
in the configs names the pipeline.
"""

from eqlatent.studies.molecules_3d.study import run

__all__ = ["run"]
