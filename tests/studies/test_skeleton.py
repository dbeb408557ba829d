"""The skeleton both studies share, on hand-made inputs (no training).

The settings check of a model folder: a new folder is stamped, more epochs continue,
other settings or fewer epochs are refused with one line naming what changed and the
fix, an older one-digest fingerprint is still accepted.  The end of a run: results.md
(and the study's latest copy), metrics.json, the CSV logger, and one summary block
naming the results path, each verdict and each model's quality.
"""

from __future__ import annotations

import json

import pytest
from omegaconf import OmegaConf

from eqlatent.errors import ConfigError
from eqlatent.runtime.io import settings_digest
from eqlatent.studies.fingerprint import check_fingerprint
from eqlatent.studies.results import MoleculesResults, Verdict
from eqlatent.studies.skeleton import Outcome, StudyRun, summary_lines

SETTINGS = {"model": {"width": 8}, "data": {"n": 200}, "batch_size": 64, "seed": 0}


def test_new_folder_is_stamped_and_reused(tmp_path):
    folder = tmp_path / "latent1"
    assert check_fingerprint(folder, SETTINGS, 2, "a VAE") is False
    stored = json.loads((folder / "fingerprint.json").read_text())
    assert stored["epochs"] == 2 and stored["settings"] == SETTINGS
    assert check_fingerprint(folder, dict(SETTINGS), 2, "a VAE") is False


def test_more_epochs_continue_and_are_recorded(tmp_path):
    check_fingerprint(tmp_path, SETTINGS, 2, "a VAE")
    assert check_fingerprint(tmp_path, SETTINGS, 5, "a VAE") is True
    assert json.loads((tmp_path / "fingerprint.json").read_text())["epochs"] == 5
    assert check_fingerprint(tmp_path, SETTINGS, 5, "a VAE") is False


def test_more_epochs_drop_derived_files_and_only_rank_zero_writes(tmp_path, monkeypatch):
    from eqlatent.studies import fingerprint

    latents = tmp_path / "latents.pt"
    check_fingerprint(tmp_path, SETTINGS, 2, "a VAE", derived=[latents])
    latents.write_text("latents of 2 epochs")
    assert check_fingerprint(tmp_path, SETTINGS, 2, "a VAE", derived=[latents]) is False and latents.is_file()
    # another rank of a multi-device run: the same answer, nothing written or deleted
    monkeypatch.setattr(fingerprint, "is_rank_zero", lambda: False)
    assert check_fingerprint(tmp_path, SETTINGS, 5, "a VAE", derived=[latents]) is True
    assert latents.is_file() and json.loads((tmp_path / "fingerprint.json").read_text())["epochs"] == 2
    assert check_fingerprint(tmp_path / "new", SETTINGS, 5, "a VAE") is False and not (tmp_path / "new").exists()
    monkeypatch.undo()
    assert check_fingerprint(tmp_path, SETTINGS, 5, "a VAE", derived=[latents]) is True
    assert not latents.is_file() and json.loads((tmp_path / "fingerprint.json").read_text())["epochs"] == 5


@pytest.mark.parametrize("settings, epochs, why", [
    ({**SETTINGS, "model": {"width": 16}}, 2, r"encoder 'c8' trained with other settings \(changed: model\)"),
    ({**SETTINGS, "seed": 1, "batch_size": 32}, 2, r"\(changed: batch_size, seed\)"),
    (SETTINGS, 1, "trained for 2 epochs, this run asks for 1"),
])
def test_other_settings_or_fewer_epochs_are_refused_in_one_line(tmp_path, settings, epochs, why):
    check_fingerprint(tmp_path, SETTINGS, 2, "encoder 'c8'")
    before = (tmp_path / "fingerprint.json").read_text()
    with pytest.raises(ConfigError, match=why) as err:
        check_fingerprint(tmp_path, settings, epochs, "encoder 'c8'")
    assert "\n" not in str(err.value) and f"delete {tmp_path}" in str(err.value)
    assert (tmp_path / "fingerprint.json").read_text() == before     # nothing overwritten


def test_older_single_digest_fingerprint_is_accepted_and_upgraded(tmp_path):
    legacy = settings_digest({**SETTINGS, "epochs": 2})
    (tmp_path / "fingerprint.json").write_text(json.dumps({"train": legacy}))
    assert check_fingerprint(tmp_path, SETTINGS, 2, "encoder 'c8'", legacy_digest=legacy) is False
    assert json.loads((tmp_path / "fingerprint.json").read_text())["settings"] == SETTINGS
    (tmp_path / "fingerprint.json").write_text(json.dumps({"train": "0123456789abcdef"}))
    with pytest.raises(ConfigError, match="not recorded"):
        check_fingerprint(tmp_path, SETTINGS, 2, "encoder 'c8'", legacy_digest=legacy)


def test_summary_lines_name_results_verdicts_and_quality(tmp_path):
    lines = summary_lines("images", tmp_path / "results.md", 12.3, {"claim 2": True, "claim 3": False, "claim 4": None},
                          {"encoder c8": "test accuracy rotated 0.958, upright 0.960"})
    text = "\n".join(lines)
    assert str(tmp_path / "results.md") in text and "12 s" in lines[0]
    assert "claim 2: holds" in lines and "claim 3: does not hold" in lines and "claim 4: not tested" in lines
    assert "encoder c8: test accuracy rotated 0.958, upright 0.960" in lines
    assert len(lines) == 6


def test_finish_writes_both_results_metrics_logs_and_prints_one_block(tmp_path, capsys):
    cfg = OmegaConf.create({
        "task_name": "molecules", "run_name": "cpu-seed0",
        "paths": {"output_root": str(tmp_path), "output_dir": str(tmp_path / "molecules" / "cpu-seed0")},
        "logger": {"csv": {"_target_": "lightning.pytorch.loggers.CSVLogger", "save_dir": "${paths.output_dir}",
                           "name": "csv", "version": ""}},
    })
    run = StudyRun(cfg)
    results = MoleculesResults(run_name="cpu-seed0", wall_time_s=run.wall_s(), claim1=Verdict("1", True, "held"))
    outcome = Outcome("# Molecules study\n", results, {"latent1/sort/spearman": 1.0, "claim1_held": 1.0},
                      quality={"VAE latent_dim 1": "exact graphs 0.500, valid 0.900"})
    path = run.finish(outcome)
    out_dir = tmp_path / "molecules" / "cpu-seed0"
    assert path == out_dir / "results.md" and path.read_text() == "# Molecules study\n"
    assert (tmp_path / "molecules" / "results.md").read_text() == "# Molecules study\n"
    metrics = json.loads((out_dir / "metrics.json").read_text())
    assert metrics["claim1"] == {"claim": "1", "evaluated": True, "held": True, "text": "held"}
    loaded = MoleculesResults.from_json(metrics)                      # metrics.json reads back as the same results
    assert loaded.claim1 == results.claim1 and loaded.extra == {"missing_artefacts": []} and loaded.to_json() == metrics
    assert "latent1/sort/spearman" in (out_dir / "csv" / "metrics.csv").read_text()
    printed = capsys.readouterr().out
    assert "# Molecules study" not in printed                         # the summary, not the whole results.md
    assert str(path) in printed and "claim 1: holds" in printed and "VAE latent_dim 1: exact graphs 0.500" in printed


def test_folder_config_points_every_writer_at_the_model_folder(tmp_path):
    from eqlatent.studies.fitting import folder_config, last_checkpoint

    cfg = OmegaConf.create({"task_name": "images", "run_name": "cpu-seed0", "hydra": {"run": {"dir": "${hydra:x}"}},
                            "paths": {"output_dir": "/elsewhere"},
                            "logger": {"wandb": {"name": "run", "save_dir": "${paths.output_dir}"}}})
    sub = folder_config(cfg, tmp_path / "c8", "c8")
    assert "hydra" not in sub and sub.paths.output_dir == str(tmp_path / "c8")
    assert sub.logger.wandb.save_dir == str(tmp_path / "c8") and sub.logger.wandb.name == "images-cpu-seed0-c8"
    assert cfg.paths.output_dir == "/elsewhere"                      # the study's own config is left alone
    assert last_checkpoint(tmp_path / "c8") == tmp_path / "c8" / "checkpoints" / "last.ckpt"


def test_csv_log_of_a_resumed_fit_is_continued_not_replaced(tmp_path):
    import csv

    from eqlatent.runtime.loggers import ResumableCSVLogger

    first = ResumableCSVLogger(save_dir=str(tmp_path), name="csv", version="")
    first.log_metrics({"train/loss": 1.0}, step=0)
    first.save()
    again = ResumableCSVLogger(save_dir=str(tmp_path), name="csv", version="")   # the resumed fit's logger
    again.log_metrics({"train/loss": 0.5, "val/acc": 0.9}, step=1)               # a new column rewrites the header
    again.save()
    rows = list(csv.DictReader((tmp_path / "csv" / "metrics.csv").read_text().splitlines()))
    assert [(r["step"], r["train/loss"], r["val/acc"]) for r in rows] == [("0", "1.0", ""), ("1", "0.5", "0.9")]
