"""Cross-run report: every study run under ``outputs/`` aggregated over seeds, per paper claim."""
