"""The console gets one line per event: no doubled Lightning lines, no advertisements, no wandb deprecation noise."""

from __future__ import annotations

import logging

import pytest

from eqlatent.console import configure_console


@pytest.fixture
def root_handler():
    """A root handler, as Hydra installs one before the job starts."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep(level=logging.INFO)
    root = logging.getLogger()
    root.addHandler(handler)
    yield records
    root.removeHandler(handler)


def test_lightning_messages_reach_the_root_logger_once(root_handler):
    configure_console()
    configure_console()                                            # idempotent
    assert logging.getLogger("lightning").handlers == []           # Lightning's own console handler is gone
    rank_zero = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    rank_zero.info("GPU available: False, used: False")
    rank_zero.info("💡 Tip: For seamless cloud logging, try installing another product")
    messages = [r.getMessage() for r in root_handler]
    assert messages.count("GPU available: False, used: False") == 1
    assert not any("Tip:" in m for m in messages)


def test_offline_wandb_logger_does_not_warn_about_the_anonymous_setting(tmp_path, monkeypatch, capfd):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    import wandb

    from eqlatent.loggers import OfflineWandbLogger

    logger = OfflineWandbLogger(project="eqlatent-test", save_dir=str(tmp_path), name="console-test")
    logger.experiment.log({"x": 1.0})
    wandb.finish()
    err = capfd.readouterr().err
    assert "anonymous" not in err
