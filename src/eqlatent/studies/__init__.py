"""Studies: one module per reproduction study, each exposing ``run(cfg) -> dict``."""
