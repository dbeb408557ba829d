"""Tests of eqlatent.studies.molecules_3d (the QM9-3D study)."""
