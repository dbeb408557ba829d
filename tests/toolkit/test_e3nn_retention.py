"""eqlatent.retention and its command line on e3nn latents (SO(3) / O(3) on ``Irreps``).

Synthetic latents (Gaussian ``[n, irreps.dim]``, and rotated copies of a few of them).  What is checked:
the irreps (an ``Irreps``, an ``IrrepsAction``, a spec ``"O3: ..."``) reach both the projections and the
quotient distances; the numbers are those of the engine on the O(3) / SO(3) quotient distance (recomputed
here from ``irreps_quotient_distance`` and the projection itself); the CLI's ``--field-type "O3: ..."``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from scipy import stats

import eqlatent
from eqlatent.cli.retention import main
from eqlatent.errors import ConfigError, LatentShapeError
from eqlatent.groups.o3 import irreps_action
from eqlatent.groups.o3_quotient import irreps_quotient_distance

o3 = pytest.importorskip("e3nn.o3")

SPEC = "O3: 4x0e + 2x1o + 1x2e"  # a MACE-like layer block, 15 numbers
NAMES = ["random_invariant", "norm", "scalars", "gram", "canonicalize"]


def _latents(spec: str = SPEC, n: int = 24, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, irreps_action(spec).dim, generator=gen, dtype=torch.float64)


def test_irreps_spec_and_action_give_the_same_table():
    z = _latents()
    kw = dict(n_pairs="all", knn_k=3, n_knn=24)
    tables = [eqlatent.retention(z, NAMES, group, **kw).as_dicts()
              for group in (SPEC, o3.Irreps("4x0e + 2x1o + 1x2e"), irreps_action(SPEC))]
    assert tables[0] == tables[1] == tables[2]
    assert [row["projection"] for row in tables[0]] == NAMES + ["raw latent"]
    assert all(row["group"] == "O3: 4x0e+2x1o+1x2e" for row in tables[0])
    widths = {row["projection"]: row["n_features"] for row in tables[0]}
    assert widths == {"random_invariant": 15, "norm": 7, "scalars": 4, "gram": 8, "canonicalize": 15,
                      "raw latent": 15}


@pytest.mark.parametrize("group", ["O3", "SO3"])
def test_the_numbers_are_the_engines_on_the_quotient_distance(group):
    """Spearman and kNN recomputed from irreps_quotient_distance and the projection: the plumbing is the reference."""
    spec = f"{group}: 2x0e + 2x1o + 1x1e + 1x2e"
    z = _latents(spec, n=20, seed=1)
    row = eqlatent.retention(z, "gram", spec, n_pairs="all", knn_k=3, n_knn=20)
    quotient = irreps_quotient_distance(z, None, spec, pairwise=True)
    feats = eqlatent.invariant_projection(spec, "gram")(z)
    i, j = torch.triu_indices(20, 20, offset=1)
    expected = stats.spearmanr(quotient[i, j].numpy(), torch.cdist(feats, feats)[i, j].numpy())[0]
    assert row.spearman == pytest.approx(expected, abs=1e-12)
    assert row.group == f"{group}: 2x0e+2x1o+1x1e+1x2e"


def test_orbit_mates_are_one_point_of_every_projection_and_of_the_reference():
    """Rotated (and inverted) copies of 6 latents: quotient distance 0 between copies, so kNN is perfect for
    projections that keep copies together; the raw latent, which does not, is worse."""
    base = _latents(n=6, seed=2)
    action = irreps_action(SPEC)
    gen = torch.Generator().manual_seed(3)
    copies = []
    for _ in range(4):
        q = torch.randn(6, 4, generator=gen, dtype=torch.float64)
        from eqlatent.groups.so3_max import quaternion_to_matrix

        R = quaternion_to_matrix(q / q.norm(dim=1, keepdim=True))
        R = R * torch.where(torch.rand(6, generator=gen) < 0.5, -1.0, 1.0).double()[:, None, None]
        copies.append(action.act(base, R))
    z = torch.cat(copies)  # row r and row r + 6k are one orbit
    report = eqlatent.retention(z, NAMES, SPEC, n_pairs="all", knn_k=3, n_knn=24)
    knn = {row.projection: row.knn for row in report}
    assert all(knn[name] == pytest.approx(1.0) for name in NAMES)
    assert knn["raw latent"] < 0.9


def test_bad_input_is_one_line():
    with pytest.raises(LatentShapeError, match=r"irreps.dim = 15") as err:
        eqlatent.retention(_latents()[:, :14], NAMES, SPEC, n_pairs=50)
    assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="unknown invariant projection 'lex_sort' for 'e3nn' latents"):
        eqlatent.retention(_latents(), "lex_sort", SPEC)


def test_cli_takes_an_o3_field_type(tmp_path, capsys):
    spec = "O3: 8x0e+4x1o+2x2e"
    np.save(tmp_path / "z.npy", _latents(spec, n=24, seed=4).numpy())
    code = main(["--latents", str(tmp_path / "z.npy"), "--field-type", spec, "--projection", *NAMES,
                 "--n-pairs", "100", "--knn-k", "3", "--n-knn", "24", "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    table = json.loads(out.out)
    assert [row["projection"] for row in table] == NAMES + ["raw latent"]
    assert all(-1 <= row["spearman"] <= 1 and row["group"] == "O3: 8x0e+4x1o+2x2e" for row in table)
    code = main(["--latents", str(tmp_path / "z.npy"), "--field-type", "O3: 8x0e+4x1o+2x2e+1x0e"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "irreps.dim = 31" in err
