"""The QM9-3D verdict rule, the balanced view and the published table, on hand-made numbers (no training).

Each rule is checked both ways: numbers that satisfy it give ``held``, numbers that miss it by a
little give ``not held``, missing numbers give ``not evaluated``.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from e3nn import o3

from eqlatent.studies.molecules_3d.analysis import balance, irrep_types, quotient_reference
from eqlatent.studies.molecules_3d.claim_o3_report import claim_verdict, decide, model_checks, quality_rows
from eqlatent.studies.molecules_3d.published import MODELS, PUBLISHED, published_for

THR = SimpleNamespace(min_spearman=0.9, min_k_over_dim=2, view="balanced", max_equivariance_error=1e-4,
                      max_invariant_change=1e-3, max_invariant_orientation_r2=0.05)


def _curve(*spearman_at_k_over_dim):
    return [{"K": int(76 * k), "K_over_dim": k, "spearman": s} for k, s in spearman_at_k_over_dim]


def _metrics(norm=0.5, scalars=0.4):
    return {"norm": {"spearman": norm}, "scalars": {"spearman": scalars}, "random_invariant": {"spearman": 0.8}}


def test_the_claim_holds_when_random_keeps_and_the_baselines_do_not():
    v = claim_verdict(_metrics(), _curve((1, 0.5), (2, 0.95), (4, 0.97)), THR)
    assert v.held is True and v.details["keeps"] and v.details["baselines_below"]
    assert v.details["random_at_large_k"] == {"152": 0.95, "304": 0.97}        # K < 2 D does not count


@pytest.mark.parametrize(("metrics", "curve"), [
    (_metrics(), _curve((2, 0.95), (4, 0.89))),               # one large K below the bar
    (_metrics(norm=0.91), _curve((2, 0.95), (4, 0.97))),      # norms keep the geometry too
    (_metrics(scalars=0.9), _curve((2, 0.95))),               # the bar is inclusive for random, strict for baselines
])
def test_the_claim_fails_when_either_half_fails(metrics, curve):
    assert claim_verdict(metrics, curve, THR).held is False


def test_not_evaluated_without_large_k_or_baselines():
    assert claim_verdict(_metrics(), _curve((1, 0.99)), THR).held is None
    assert claim_verdict({"random_invariant": {"spearman": 1.0}}, _curve((2, 0.99)), THR).held is None


def test_decide_uses_the_configured_view_and_states_the_other():
    views = {"raw": (_metrics(norm=0.99), _curve((2, 0.99))), "balanced": (_metrics(), _curve((2, 0.95)))}
    v = decide(views, THR)
    assert v.held is True and v.details["view"] == "balanced" and v.details["other_views"]["raw"]["held"] is False
    assert "On the raw latent" in v.text and "does not hold" in v.text
    raw = decide(views, SimpleNamespace(**{**vars(THR), "view": "raw"}))
    assert raw.held is False and raw.details["other_views"]["balanced"]["held"] is True
    assert decide(views, SimpleNamespace(**{**vars(THR), "view": "other"})).held is None


def test_model_checks_read_the_numbers():
    enc = {"rotation_max_rel_error": 2e-7, "inversion_max_rel_error": 1e-9, "e3nn_max_rel_error": 3e-7}
    metrics = {"identity": {"invariant": False, "inv_err_rotation": 0.2, "inv_err_inversion": 0.1,
                            "orient_dipole_ridge_r2": 0.6},
               "norm": {"invariant": True, "inv_err_rotation": 1e-7, "inv_err_inversion": 0.0,
                        "orient_dipole_ridge_r2": -0.02}}
    ok = model_checks(metrics, enc, THR)
    assert ok["encoder_equivariant"] and ok["invariant_projections_invariant"] and ok["invariant_hide_orientation"]
    assert ok["raw_reveals_orientation"] is True
    metrics["norm"]["orient_dipole_ridge_r2"] = 0.2
    metrics["norm"]["inv_err_rotation"] = 0.01
    bad = model_checks(metrics, {**enc, "e3nn_max_rel_error": 1e-3}, THR)
    assert not (bad["encoder_equivariant"] or bad["invariant_projections_invariant"] or bad["invariant_hide_orientation"])


def test_balance_gives_every_irrep_type_the_same_variance_and_commutes_with_rotations():
    irreps = o3.Irreps("3x0e+2x1o+1x2e")
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(200, irreps.dim, generator=gen, dtype=torch.float64) * torch.tensor(
        [10.0] * 3 + [0.1] * 6 + [1.0] * 5, dtype=torch.float64)
    scales, share = balance(z, irreps)
    assert share["0e"] > 0.9 and sum(share.values()) == pytest.approx(1.0)
    zb = (z - z.mean(0)) * scales
    for t, sls in irrep_types(irreps).items():
        assert float(sum(zb[:, sl].pow(2).sum(1).mean() for sl in sls)) == pytest.approx(1 / 3), t
        assert all(torch.all(scales[sl] == scales[sls[0]][0]) for sl in sls)       # one number per type
    R = o3.rand_matrix(dtype=torch.float64) * -1                                    # a rotation with the inversion
    D = irreps.D_from_matrix(R)
    assert torch.allclose((z @ D.T) * scales, (z * scales) @ D.T, atol=1e-12)       # rescaling commutes with D(g)
    d = quotient_reference(z[:6] * scales, irreps)
    assert torch.allclose(d, d.T) and torch.all(d.diagonal() == 0)


def test_the_published_table_and_the_quality_rows():
    assert {p.model for p in PUBLISHED} == set(MODELS)
    gap = published_for("gap")
    assert (gap["SchNet"].mae_mev, gap["PaiNN"].mae_mev, gap["DimeNet++"].mae_mev) == (63.0, 45.7, 32.6)
    assert "J. Chem. Phys. 148, 241722" in gap["SchNet"].source and "ICML 2021" in gap["PaiNN"].source
    assert "2011.14115" in gap["DimeNet++"].source and published_for("alpha") == {}
    rows = quality_rows({"test_mae": {"gap": 0.25, "alpha": 1.5}, "units": {"gap": "eV", "alpha": "a0^3"}})
    assert rows == [["gap", "eV", "0.2500", "0.0630", "0.0457", "0.0326"], ["alpha", "a0^3", "1.5000", "-", "-", "-"]]
