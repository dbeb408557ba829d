"""escnn works on first use for every group the toolkit accepts, from an empty escnn cache.

Why a subprocess with its own empty cache folder: escnn keeps the bases it computed in a joblib cache, so a
process with a warm cache hides the scikit-learn >= 1.9 failure of a D_N / O(2) basis (escnn issue #112)
that a new machine meets.  The scripts below import escnn in both orders around ``import eqlatent`` and never
call a helper: ``import eqlatent`` alone must be enough.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from eqlatent.errors import ConfigError
from eqlatent.groups import escnn_setup

# For each group: an R2Conv from one scalar to a mix of field types, spatially averaged (so a 90 degree rotation
# of the image acts on the [B, C] latent by the group action), then eqlatent's invariant projection of it.
_SCRIPT = """
import os, sys, torch
{imports}
from escnn import gspaces, nn

cache = os.environ["EQLATENT_ESCNN_CACHE"]
assert escnn.group.__cache_path__ == cache, escnn.group.__cache_path__
assert escnn.group.irrep.cache.store_backend.location.startswith(cache), "escnn's cache still in site-packages"

def mixed(name):
    if name == "C8":
        gs = gspaces.rot2dOnR2(8)
        return gs, [gs.regular_repr, gs.fibergroup.irrep(1), gs.fibergroup.irrep(2), gs.trivial_repr]
    if name == "D8":
        gs = gspaces.flipRot2dOnR2(8)
        return gs, [gs.regular_repr, gs.fibergroup.irrep(1, 1), gs.fibergroup.irrep(1, 0), gs.trivial_repr]
    if name == "SO(2)":
        gs = gspaces.rot2dOnR2(-1, maximum_frequency=2)
        return gs, [gs.fibergroup.irrep(0), gs.fibergroup.irrep(1), gs.fibergroup.irrep(2)]
    gs = gspaces.flipRot2dOnR2(-1, maximum_frequency=2)
    return gs, [gs.fibergroup.irrep(0, 0), gs.fibergroup.irrep(1, 0), gs.fibergroup.irrep(1, 1),
                gs.fibergroup.irrep(1, 2)]

torch.manual_seed(0)
for name in sys.argv[1:]:
    gs, reps = mixed(name)
    in_type = nn.FieldType(gs, [gs.trivial_repr])
    conv = nn.R2Conv(in_type, nn.FieldType(gs, reps), kernel_size=3, padding=1)
    proj = eqlatent.invariant_projection(conv.out_type, n_functionals=16)
    x = torch.randn(2, 1, 9, 9)
    with torch.no_grad():
        z, z_rot = (conv(in_type(t)).tensor.mean(dim=(2, 3)) for t in (x, torch.rot90(x, 1, (2, 3))))
        p, p_rot = proj(z), proj(z_rot)
    assert p.shape == (2, proj.out_features) and torch.isfinite(p).all(), (name, p.shape)
    moved, err = float((z - z_rot).norm() / z.norm()), float((p - p_rot).norm() / p.norm())
    assert moved > 1e-2 and err < 1e-4, (name, moved, err)  # the latent moves, its projection does not
    print(name, "ok", moved, err)
"""

_EQLATENT_FIRST = "import eqlatent\nimport escnn"
_ESCNN_FIRST = "import escnn\nimport eqlatent"


def _run(tmp_path, imports: str, groups: list[str]) -> str:
    cache = tmp_path / "escnn-cache"
    env = {**os.environ, "EQLATENT_ESCNN_CACHE": str(cache), "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", _SCRIPT.format(imports=imports), *groups],
                         capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    assert any(cache.rglob("*.pkl")), "escnn cached nothing in the folder eqlatent gave it"
    return out.stdout


def test_every_group_works_from_an_empty_cache(tmp_path):
    out = _run(tmp_path, _EQLATENT_FIRST, ["C8", "D8", "SO(2)", "O(2)"])
    passed = [line.split()[0] for line in out.splitlines() if line.split()[1:2] == ["ok"]]  # escnn prints too
    assert passed == ["C8", "D8", "SO(2)", "O(2)"], out


def test_escnn_imported_before_eqlatent_is_fixed_too(tmp_path):
    out = _run(tmp_path, _ESCNN_FIRST, ["D8"])
    assert "D8 ok" in out, out


def test_cache_folder_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv(escnn_setup.ENV_VAR, str(tmp_path / "mine"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert escnn_setup.cache_dir() == tmp_path / "mine"
    monkeypatch.delenv(escnn_setup.ENV_VAR)
    assert escnn_setup.cache_dir() == tmp_path / "xdg" / "eqlatent" / "escnn"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert escnn_setup.cache_dir() == tmp_path / "home" / ".cache" / "eqlatent" / "escnn"


def test_unwritable_cache_folder_names_the_setting(monkeypatch, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv(escnn_setup.ENV_VAR, str(blocker / "escnn"))
    with pytest.raises(ConfigError, match=escnn_setup.ENV_VAR):
        escnn_setup._usable_cache_dir()
