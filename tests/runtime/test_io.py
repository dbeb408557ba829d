"""Atomic writes leave either the old file or the new one, never a partial file."""

from __future__ import annotations

import os

import pytest
import torch

from eqlatent.runtime.io import atomic_torch_save, atomic_write_json, atomic_write_text


def test_atomic_text_and_json(tmp_path):
    p = atomic_write_text(tmp_path / "sub" / "a.md", "hello\n")
    assert p.read_text() == "hello\n"
    mask = os.umask(0)
    os.umask(mask)
    assert p.stat().st_mode & 0o777 == 0o666 & ~mask  # like open(), not mkstemp's 0600
    atomic_write_json(tmp_path / "m.json", {"b": 1.5, "a": 2})
    assert (tmp_path / "m.json").read_text().startswith('{\n  "a": 2')


def test_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "t.pt"
    atomic_torch_save({"ok": 1}, target)

    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        atomic_torch_save({"bad": Unpicklable()}, target)
    assert torch.load(target) == {"ok": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["t.pt"]
