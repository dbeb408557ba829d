"""Test-only helpers (never imported by the package): adversarial latents, synthetic graphs, a simulated crash."""
