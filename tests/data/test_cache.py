"""The processed-data cache: reused when intact, rebuilt when its checksum fails."""

from __future__ import annotations

from eqlatent.data.cache import cache_key, load_or_build


def test_cache_is_built_once_then_reused(tmp_path):
    calls = []
    build = lambda: calls.append(1) or {"x": 1}  # noqa: E731
    path = tmp_path / "c.pt"
    assert load_or_build(path, build) == {"x": 1}
    assert load_or_build(path, build) == {"x": 1}
    assert len(calls) == 1


def test_corrupt_cache_is_detected_and_rebuilt(tmp_path):
    calls = []
    build = lambda: calls.append(1) or {"x": list(range(100))}  # noqa: E731
    path = tmp_path / "c.pt"
    load_or_build(path, build)
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    assert load_or_build(path, build) == {"x": list(range(100))}
    assert len(calls) == 2


def test_cache_key_depends_on_every_part():
    assert cache_key(a=1, b=2) == cache_key(b=2, a=1)
    assert cache_key(a=1, b=2) != cache_key(a=1, b=3)
