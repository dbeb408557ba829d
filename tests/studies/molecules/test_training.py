"""The molecules study's side-by-side fits (molecules.parallel_fits > 1), run in this process.

``fit_side_by_side`` is run with its process pool replaced by one that calls each job here
and now, so the child's code (:func:`_fit_in_own_process`) and the parent's loop of
:func:`train_all` run as in a real run, without spawning.  Tiny real QM9 subset, one epoch.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future

import hydra
import pytest
import torch

from eqlatent.runtime.config import compose
from eqlatent.models.graph_vae import GraphVAE
from eqlatent.studies.molecules import training

TINY = [
    "experiment=molecules", "profile=cpu", "logger=csv", "seed=0",
    "profile.molecules.n_molecules=200", "profile.molecules.epochs=1", "profile.molecules.batch_size=64",
    "model.graph_vae.hidden=8", "model.graph_vae.n_layers=2", "model.graph_vae.width=8",
    "trainer.enable_progress_bar=false", "~callbacks.rich_progress_bar",
    "molecules.parallel_fits=2", "profile.molecules.torch_threads=1",
]


class _HereAndNow:
    """Stands in for ProcessPoolExecutor: each job runs in this process when submitted."""

    def __init__(self, max_workers: int, mp_context: object, initializer: object = None, initargs: tuple = ()) -> None:
        pass   # no initializer: the jobs run in this process, whose logging is configured already

    def __enter__(self) -> _HereAndNow:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def submit(self, fn, *args) -> Future:
        job = Future()
        job.set_result(fn(*args))
        return job


@pytest.fixture
def side_by_side(monkeypatch):
    """The fits ``fit_in_folder`` ran (by folder); restores what the child sets for its own process."""
    threads, level = torch.get_num_threads(), logging.getLogger("lightning").level
    monkeypatch.setattr(training, "ProcessPoolExecutor", _HereAndNow)
    fits = []

    def fit_in_folder(sub, *args, **kwargs):
        fits.append(str(sub.paths.output_dir))
        return real(sub, *args, **kwargs)

    real = training.fit_in_folder
    monkeypatch.setattr(training, "fit_in_folder", fit_in_folder)
    torch.set_num_threads(2)
    yield fits
    torch.set_num_threads(threads)
    logging.getLogger("lightning").setLevel(level)


def test_sizes_fit_side_by_side_are_loaded_not_fit_again(side_by_side, tmp_path):
    cfg = compose(TINY + [f"paths.output_root={tmp_path}"])
    ds = hydra.utils.instantiate(cfg.data)
    out = tmp_path / "run"
    fitted = training.train_all(cfg, ds, [1, 2], out)
    # one fit per size, in its own process: the parent loads it (no second logger run, no Trainer, no "resuming")
    assert sorted(side_by_side) == [str(out / "latent1"), str(out / "latent2")]
    assert torch.get_num_threads() == 1            # molecules.torch_threads, applied in the fit's own process
    for d, fit in fitted.items():
        model, seconds = fit.model, fit.train_seconds
        assert isinstance(model, GraphVAE) and not model.training and model.latent_dim == d and seconds > 0
        saved = torch.load(out / f"latent{d}" / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"]
        assert all(torch.equal(v, saved[k]) for k, v in model.state_dict().items())
        assert not fit.reused
        training.latents_for(cfg, ds, fit)
    # a re-run finds every size trained (latents written): reused, 0 seconds, nothing fit
    side_by_side.clear()
    again = training.train_all(cfg, ds, [1, 2], out)
    assert side_by_side == [] and {d: f.train_seconds for d, f in again.items()} == {1: 0.0, 2: 0.0}
    assert all(f.reused and isinstance(f.model, GraphVAE) for f in again.values())


def test_new_model_settings_at_their_neutral_value_leave_the_fingerprint_as_before():
    """adam_kernel / grad_clip / init_logvar / adam_beta2 at auto / 0 / 0 / 0.999 compute what older folders did:
    those are reused; the cpu profile's own beta2 (0.98) is a different training, so it is fingerprinted."""
    from eqlatent.models.graph_vae import NEUTRAL_SETTINGS

    cfg = compose(["experiment=molecules", "model/graph_vae=full"], with_hydra=False)
    assert all(cfg.model.graph_vae[k] == v for k, v in NEUTRAL_SETTINGS.items())   # the full profile's model keeps them
    assert not set(NEUTRAL_SETTINGS) & set(training.training_settings(cfg, 1)["model"])
    cpu = compose(["experiment=molecules"], with_hydra=False)
    assert training.training_settings(cpu, 1)["model"]["adam_beta2"] == 0.98
    clipped = compose(["experiment=molecules", "model.graph_vae.grad_clip=1.0",
                       "model.graph_vae.adam_kernel=fused"], with_hydra=False)
    model = training.training_settings(clipped, 1)["model"]
    assert (model["grad_clip"], model["adam_kernel"]) == (1.0, "fused")


def test_a_spawned_fit_logs_its_epochs_where_the_parent_logs(tmp_path):
    import queue
    from logging.handlers import QueueListener

    records, root = queue.Queue(), logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        training._forward_logs_to(records)                  # what each pool process runs first
        logging.getLogger("eqlatent.runtime.epoch_report").info("latent_dim=%d: epoch 1/6 in 7.0 min", 2)
    finally:
        root.handlers, root.level = handlers, level
    run_log = tmp_path / "run.log"                           # the parent's handler, in the parent's format
    parent_file = logging.FileHandler(run_log)
    parent_file.setFormatter(logging.Formatter("[%(name)s][%(levelname)s] - %(message)s"))
    listener = QueueListener(records, parent_file)
    listener.start()
    listener.stop()
    parent_file.close()
    assert run_log.read_text() == "[eqlatent.runtime.epoch_report][INFO] - latent_dim=2: epoch 1/6 in 7.0 min\n"
