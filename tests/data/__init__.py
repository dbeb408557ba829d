"""Tests of eqlatent.data."""
