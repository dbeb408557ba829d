"""Batch norms synchronised across ranks: escnn models convert, two ranks see the statistics of the whole batch.

The two-rank checks run two CPU processes (gloo): each normalises its half of a batch,
and both halves must equal what the original layer computes on the whole batch (outputs,
running statistics, and the gradient of a loss summed over ranks).
"""

from __future__ import annotations

import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from eqlatent.models.sync_batchnorm import EquivariantSyncBatchNorm, sync_batch_norms, unsync_batch_norms


def _layers() -> dict[str, tuple[nn.Module, torch.Size]]:
    """name -> (a batch norm as the encoders use it, the shape of one input sample)."""
    from escnn import gspaces
    from escnn import nn as enn

    c8 = gspaces.rot2dOnR2(N=8)
    so2 = gspaces.rot2dOnR2(N=-1, maximum_frequency=4)
    iid_type = enn.FourierPointwise(so2, 2, so2.fibergroup.bl_irreps(1), function="p_relu", N=8).in_type
    return {"torch": (nn.BatchNorm2d(3), torch.Size([3, 5, 5])),
            "inner": (enn.InnerBatchNorm(enn.FieldType(c8, [c8.regular_repr] * 2)), torch.Size([16, 5, 5])),
            "iid": (enn.IIDBatchNorm2d(iid_type), torch.Size([iid_type.size, 5, 5]))}


def _forward(layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    from escnn import nn as enn

    if isinstance(layer, enn.EquivariantModule):
        return layer(enn.GeometricTensor(x, layer.in_type)).tensor
    return layer(x)


def _batch(shape: torch.Size) -> tuple[torch.Tensor, torch.Tensor]:
    """Eight seeded samples (mean and scale away from 0 and 1) and the weights of a loss over them."""
    torch.manual_seed(0)
    return (torch.randn(8, *shape) * 2 + 1).requires_grad_(), torch.randn(8, *shape)


def _two_rank_worker(rank: int, port: int, out_dir: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    mine = slice(4 * rank, 4 * rank + 4)
    for name, (layer, shape) in _layers().items():
        x, weights = _batch(shape)
        y = _forward(sync_batch_norms(layer).train(), x[mine])
        (y * weights[mine]).sum().backward()   # this rank's share of one loss over the whole batch
        torch.save({"y": y.detach(), "grad": x.grad[mine], "state": layer.state_dict()}, f"{out_dir}/{name}{rank}.pt")
    dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_ranks_normalise_with_the_statistics_of_the_whole_batch(tmp_path):
    mp.spawn(_two_rank_worker, args=(_free_port(), str(tmp_path)), nprocs=2, join=True)
    for name, (layer, shape) in _layers().items():   # torch BatchNorm2d, escnn InnerBatchNorm and IIDBatchNorm2d
        x, weights = _batch(shape)
        y = _forward(layer.train(), x)
        (y * weights).sum().backward()
        ranks = [torch.load(tmp_path / f"{name}{r}.pt") for r in (0, 1)]
        torch.testing.assert_close(torch.cat([r["y"] for r in ranks]), y.detach(), atol=1e-5, rtol=1e-4)
        if name != "iid":   # escnn's IID norm detaches its statistics: no gradient flows through them
            torch.testing.assert_close(torch.cat([r["grad"] for r in ranks]), x.grad, atol=1e-5, rtol=1e-4)
        for key, value in layer.state_dict().items():   # running statistics of the whole batch, on both ranks
            for r in ranks:
                torch.testing.assert_close(r["state"][key].to(value.dtype), value, atol=1e-5, rtol=1e-4,
                                           msg=f"{name}: {key}")


def test_escnn_encoders_convert_in_place_and_back():
    from eqlatent.models.cyclic_steerable_cnn import CyclicSteerableCNN
    from eqlatent.models.so2_steerable_cnn import SO2SteerableCNN

    for model in (CyclicSteerableCNN(fields=(2, 2), kernel_sizes=(3, 3)),
                  SO2SteerableCNN(channels=(2, 2), kernel_sizes=(5, 5), max_frequency=1)):
        x = torch.rand(4, 1, 29, 29)
        before = model.train()(x)
        keys = list(model.state_dict())
        plugin = EquivariantSyncBatchNorm()
        assert plugin.apply(model) is model          # no module rebuilt: escnn's SequentialModule is never re-added to
        assert any(type(m).__name__.startswith("Synced") for m in model.modules())
        assert list(model.state_dict()) == keys      # checkpoints written while synchronised load into the original
        torch.testing.assert_close(model(x), before)   # without a process group: exactly the original layers
        plugin.revert(model)
        assert not any(type(m).__name__.startswith("Synced") for m in model.modules())


def test_unsupported_escnn_batch_norm_is_a_config_error():
    from escnn import gspaces
    from escnn import nn as enn

    from eqlatent.errors import ConfigError

    gs = gspaces.rot2dOnR2(N=4)
    with pytest.raises(ConfigError, match="NormBatchNorm"):
        sync_batch_norms(nn.Sequential(enn.NormBatchNorm(enn.FieldType(gs, [gs.irrep(1)]))))


def test_sync_and_unsync_round_trip_a_plain_cnn():
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.BatchNorm1d(2))
    sync_batch_norms(sync_batch_norms(net))         # idempotent
    assert [type(m).__name__ for m in net] == ["Conv2d", "SyncedBatchNorm2d", "SyncedBatchNorm1d"]
    assert isinstance(net[1], nn.BatchNorm2d)
    unsync_batch_norms(net)
    assert [type(m) for m in net] == [nn.Conv2d, nn.BatchNorm2d, nn.BatchNorm1d]
