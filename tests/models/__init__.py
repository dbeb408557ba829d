"""Tests of eqlatent.models."""
