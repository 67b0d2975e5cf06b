# The two set-up commands: `make bench` and `make test`. Both build .venv first.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
VPY := $(VENV)/bin/python
MACHINE ?= $(shell hostname)

.PHONY: bench test venv clean aa nightly publish

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

# A/A noise experiment: two back-to-back full runs of the same code, recorded
# under two labels (commits A and B of a stand-in repo), then the noise report.
# Times only: the report compares the time_* results.
AA_DIR := .asv/aa
GIT_LABEL := git -C $(AA_DIR)/repo -c user.name=aa -c user.email=aa@localhost
aa: venv
	rm -rf $(AA_DIR) && mkdir -p $(AA_DIR)/repo
	$(GIT_LABEL) init -q -b main && $(GIT_LABEL) commit -q --allow-empty -m A && $(GIT_LABEL) tag A \
		&& $(GIT_LABEL) commit -q --allow-empty -m B && $(GIT_LABEL) tag B
	for label in A B; do \
		$(VPY) tools/record_run.py --python $(abspath $(VPY)) --machine $(MACHINE) --repo $(AA_DIR)/repo \
			--commit $$($(GIT_LABEL) rev-parse $$label) --results-dir $(AA_DIR)/results --times-only || exit 2; \
	done
	$(VPY) tools/noise_report.py $$($(GIT_LABEL) rev-parse A) $$($(GIT_LABEL) rev-parse B) \
		--results-dir $(AA_DIR)/results --machine $(MACHINE) $(AA_ARGS)

# The nightly job: record, publish, check, report (nightly-report.md). make turns
# the check's exit code 1 (a regression) into its own 2; tools/nightly.py itself
# exits 0/1/2. TORCH_REPO=<PyTorch clone> records at torch's own commit.
TORCH_REPO ?=
nightly: venv
	$(VPY) tools/nightly.py --python $(abspath $(VPY)) --machine $(MACHINE) \
		$(if $(TORCH_REPO),--torch-repo $(TORCH_REPO))

# asv's pages of everything in results/, in html/, with their JavaScript served
# from html/vendor (npm) rather than CDNs; `make publish PREVIEW=1` serves them.
publish: venv
	$(VPY) -m asv publish
	$(VPY) tools/localize_pages.py html || echo "pages still load their libraries from CDNs"
	$(if $(PREVIEW),$(VPY) -m asv preview)

test: $(VENV)/.test-installed
	$(VPY) -m pytest -q tests

clean:
	rm -rf $(VENV) .asv results html
