"""Tests of eqlatent.studies.molecules."""
