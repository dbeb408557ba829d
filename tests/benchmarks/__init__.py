"""Tests of benchmarks/ (the checkout's scripts behind make bench and make paper-check)."""
