"""Tests of eqlatent.studies."""
