"""Tests of eqlatent.studies.images."""
