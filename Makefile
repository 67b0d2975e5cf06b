# The two set-up commands: `make bench` and `make test`. Both build .venv first.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
VPY := $(VENV)/bin/python
MACHINE ?= $(shell hostname)

.PHONY: bench test venv clean aa calibrate labels nightly publish torch-range bisect mutation

venv: $(VENV)/.installed

# A base Python that already has a CUDA build of torch (a GPU image) is reused:
# a .pth file puts its site-packages behind the venv's own (--system-site-packages
# would not do: where that Python is itself a venv, it reaches the wrong ones).
# Anywhere else the venv installs $(TORCH_SPEC).
# Offline (a GPU runner without an index): PIP_NO_INDEX=1 PIP_FIND_LINKS=<wheels>.
REUSE_TORCH ?= $(shell $(PYTHON) -c "import torch; print('yes' if torch.version.cuda else 'no')" 2>/dev/null || echo no)
$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	@if [ "$(REUSE_TORCH)" = yes ]; then \
		echo "reusing the CUDA torch of $(PYTHON)"; \
		$(PYTHON) -c "import sysconfig; print(sysconfig.get_paths()['purelib'])" \
			> $$($(VPY) -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")/base_python_torch.pth; \
	else \
		$(VPY) -m pip install -q "$(TORCH_SPEC)"; \
	fi
	$(VPY) -m pip install -q -r requirements.txt
	touch $@

$(VENV)/.test-installed: $(VENV)/.installed requirements-test.txt
	$(VPY) -m pip install -q -r requirements-test.txt
	touch $@

# Runs the GPU grid where CUDA is present, else the CPU grid; records the results
# at this repository's HEAD and prints the speedup summary.
bench: venv
	$(VPY) tools/record_run.py --python $(abspath $(VPY)) --machine $(MACHINE)
	$(VPY) tools/speedup_summary.py --machine $(MACHINE) --commit $$(git rev-parse HEAD)

# A second environment with the same packages: the contender side of a re-measurement,
# or the environment an injected slowdown goes into (tools/inject.py). Its
# site-packages reach the main venv's, so it has the same torch.
CONTENDER_VENV ?= .asv/contender
CPY := $(CONTENDER_VENV)/bin/python
$(CONTENDER_VENV)/.made: $(VENV)/.installed
	$(PYTHON) -m venv $(CONTENDER_VENV)
	$(VPY) -c "import sys; print('\n'.join(p for p in sys.path if p.endswith('-packages')))" \
		> $$($(CPY) -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")/main_venv.pth
	touch $@

# Stand-in repository whose empty commits A, B, C label the runs of aa and calibrate.
LABEL_DIR := .asv/labels
GIT_LABEL := git -C $(LABEL_DIR)/repo -c user.name=aa -c user.email=aa@localhost
LABEL = $$($(GIT_LABEL) rev-parse $(1))
RECORD = $(VPY) tools/record_run.py --machine $(MACHINE) --repo $(LABEL_DIR)/repo --results-dir $(LABEL_DIR)/results
labels:
	rm -rf $(LABEL_DIR) && mkdir -p $(LABEL_DIR)/repo && $(GIT_LABEL) init -q -b main
	for label in A B C; do $(GIT_LABEL) commit -q --allow-empty -m $$label && $(GIT_LABEL) tag $$label; done

# A/A: two back-to-back nights of the same torch, the per-result noise report, then the
# nightly check on the pair, re-measuring its candidates with the same torch on both
# sides (nothing may be a regression).
aa: venv $(CONTENDER_VENV)/.made labels
	$(RECORD) --python $(abspath $(VPY)) --commit $(call LABEL,A) || exit 2
	$(RECORD) --python $(abspath $(VPY)) --commit $(call LABEL,B) || exit 2
	$(VPY) tools/noise_report.py $(call LABEL,A) $(call LABEL,B) --results-dir $(LABEL_DIR)/results \
		--machine $(MACHINE) $(AA_ARGS)
	$(VPY) tools/check_regressions.py --results-dir $(LABEL_DIR)/results --machine $(MACHINE) \
		--baseline-python $(abspath $(VPY)) --contender-python $(abspath $(CPY)) --report aa-report.md

# This runner's detection floor, with real slowdowns: two clean nights (A, B), then a
# night (C) of the contender environment with slowdowns on configs drawn at random,
# then the check with re-measurement, and its tally of what it caught (inject.py score).
# INJECT: tools/inject.py plan's arguments.
INJECT ?= --gpu 0.10 --configs 10 --seed 1
calibrate: aa
	$(VPY) tools/inject.py plan --results-dir $(LABEL_DIR)/results --machine $(MACHINE) \
		--out $(LABEL_DIR)/slowdowns.json $(INJECT)
	$(VPY) tools/inject.py install --python $(abspath $(CPY)) --spec $(LABEL_DIR)/slowdowns.json \
		--baseline-python $(abspath $(VPY))
	$(RECORD) --python $(abspath $(CPY)) --commit $(call LABEL,C) || exit 2
	$(VPY) tools/check_regressions.py --results-dir $(LABEL_DIR)/results --machine $(MACHINE) \
		--baseline-python $(abspath $(VPY)) --contender-python $(abspath $(CPY)) --report calibrate-report.md \
		--format json > calibrate-check.json || [ $$? = 1 ]
	$(VPY) tools/inject.py remove --python $(abspath $(CPY))
	$(VPY) tools/inject.py score --spec $(LABEL_DIR)/slowdowns.json --check calibrate-check.json

# The nightly job: record, publish, check, report (nightly-report.md). make turns
# the check's exit code 1 (a regression) into its own 2; tools/nightly.py itself
# exits 0/1/2, and 3 where its own step (record, publish, check) failed.
# TORCH_REPO=<PyTorch clone> records at torch's own commit.
TORCH_REPO ?=
nightly: venv
	$(VPY) tools/nightly.py --python $(abspath $(VPY)) --machine $(MACHINE) \
		$(if $(TORCH_REPO),--torch-repo $(TORCH_REPO))

# A range of torch commits, and a bisection of one, from a folder of torch wheels
# (README, "Against torch commits"): TORCH_REPO=<PyTorch clone>, TORCH_WHEEL_DIR=<wheels>,
# RANGE=A..B; bisect also BENCH=<one benchmark>, e.g. attention_bias.AttentionBias.time_causal_bias.
TORCH_COMMITS = $(VPY) tools/torch_commits.py --repo $(TORCH_REPO) --machine $(MACHINE)
torch-range: venv
	$(TORCH_COMMITS) run $(RANGE)
bisect: venv  # exit 1 of find is its finding: the commit named is slower than its parent
	$(TORCH_COMMITS) find $(RANGE) $(BENCH) || [ $$? = 1 ]

# asv's pages of everything in results/, in html/, with their JavaScript served
# from html/vendor (npm) rather than CDNs; `make publish PREVIEW=1` serves them.
# Nights recorded at torch's commits (the nightly, torch-range) are drawn against
# a PyTorch clone's history: TORCH_REPO=<clone>.
publish: venv
	$(if $(TORCH_REPO),$(TORCH_COMMITS) publish,$(VPY) -m asv publish)
	$(VPY) tools/localize_pages.py html || echo "pages still load their libraries from CDNs"
	$(if $(PREVIEW),$(VPY) -m asv preview)

test: $(VENV)/.test-installed
	$(VPY) -m ruff check .
	$(VPY) -m mypy
	$(VENV)/bin/zizmor --offline .github/workflows
	$(VPY) -m pytest -q tests

# Mutation testing of the verdict's logic (cosmic-ray; docs/design.md, "Mutation testing"): each module's
# mutants against its fast unit tests, in a scratch copy; prints each module's score, its survivors and the
# total, and fails under 90% killed. Minutes per module, so not part of `make test`. MODULES=noise verdict ...
MODULES ?=
$(VENV)/.mutation-installed: $(VENV)/.test-installed tests/mutation/requirements.txt
	$(VPY) -m pip install -q -r tests/mutation/requirements.txt
	touch $@
mutation: $(VENV)/.mutation-installed
	$(VPY) tests/mutation/run.py $(MODULES)

clean:
	rm -rf $(VENV) .asv results html
