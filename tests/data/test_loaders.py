"""DataLoader settings: pinning follows the machine, workers never change the batches, bad values are one line."""

from __future__ import annotations

import pytest
import torch

from eqlatent.runtime.config import compose
from eqlatent.data.loaders import resolve_pin_memory, tensor_loader
from eqlatent.errors import ConfigError


def test_pin_memory_auto_follows_cuda():
    assert resolve_pin_memory("auto") == torch.cuda.is_available()
    assert resolve_pin_memory(False) is False


def test_workers_give_the_same_seeded_batches():
    x, y = torch.arange(40.0).view(20, 2), torch.arange(20)
    batches = []
    for workers in (0, 1):
        loader = tensor_loader((x, y), 6, 3, {"num_workers": workers, "pin_memory": False})
        batches.append([b[1].tolist() for b in loader])
    assert batches[0] == batches[1] and sorted(sum(batches[0], [])) == list(range(20))


@pytest.mark.parametrize("bad", [{"pin_memory": "yes"}, {"num_workers": -1}])
def test_bad_loader_settings_are_one_line_errors(bad):
    with pytest.raises(ConfigError) as err:
        tensor_loader((torch.zeros(4, 1),), 2, None, bad)
    assert "\n" not in str(err.value) and "profile.loader" in str(err.value)


@pytest.mark.parametrize("profile", ["cpu", "paper"])
def test_profiles_define_the_loader_block(profile):
    cfg = compose([f"profile={profile}", "experiment=molecules"], with_hydra=False)
    assert int(cfg.profile.loader.num_workers) >= 0 and cfg.profile.loader.pin_memory in ("auto", True, False)
