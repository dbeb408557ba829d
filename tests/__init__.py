"""The test-suite; a package so that ``tests.helpers`` imports and equal test basenames in subfolders do not clash."""
