# Two commands do all set-up on a fresh machine (see README.md):
#   make demo   train the abdominal MRI Attention U-Net bundle on a synthetic demo dataset
#   make test   run the test suite
# Both create .venv and install the project into it first; torch is pinned by constraints.txt
# (2.13.0, the CPU build on a machine without CUDA) so no CUDA packages are pulled in.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed
BUNDLE := bundles/abdominal_mri_attention_unet
DEMO_DATA := demo_data/abdominal
DEMO_EPOCHS ?= 8

.PHONY: install demo test lint clean-demo monailabel-env nnunet-env

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet -c constraints.txt torch==2.13.0
	$(PIP) install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

$(DEMO_DATA)/fingerprint.json: | $(STAMP)
	$(PY) -m data_prep synth abdominal $(DEMO_DATA) --cases 12 --size 64 64 32 --overwrite

# the demo shortens the epochs (the plan decides patch, batch and network): 8 epochs of 25 iterations on 2 CPU
# cores reach a validation mean Dice of about 0.87 in about a minute
DEMO_OVERRIDES := --num_workers 0

demo: $(STAMP) $(DEMO_DATA)/fingerprint.json
	$(PY) -m monai.bundle run training \
		--config_file $(BUNDLE)/configs/train.json \
		--dataset_dir $(DEMO_DATA) $(DEMO_OVERRIDES) --iterations_per_epoch 25 --epochs $(DEMO_EPOCHS)
	$(PY) -m monai.bundle run \
		--config_file "['$(BUNDLE)/configs/train.json','$(BUNDLE)/configs/evaluate.json']" \
		--dataset_dir $(DEMO_DATA) $(DEMO_OVERRIDES)
	@echo "Results: $(BUNDLE)/models/model.pt; $(BUNDLE)/runs/ (training curves); $(BUNDLE)/eval/ (metrics CSV, overlays, attention maps)"

test: $(STAMP)
	PYTHONUTF8=1 $(PY) -m pytest -q

# The separate environment of the MONAI Label export tests (monailabel 0.8.5 pins numpy < 2 and pydicom < 3,
# so it cannot share .venv). The tests create it on first use too, and are skipped (saying why) when it
# cannot be created; this target (re)creates it explicitly. See tests/export/monailabel_env/create_env.py.
MONAILABEL_VENV ?= .venv-monailabel

monailabel-env: $(STAMP)
	rm -f $(MONAILABEL_VENV)/.failed
	$(PY) tests/export/monailabel_env/create_env.py $(MONAILABEL_VENV)

# The separate environment of the nnU-Net v2 inference comparison (benchmarks/nnunet_predict.py runs there; it
# holds nnunetv2 2.8.1 and the CPU torch, nothing of this project). tests/benchmarks create it on first use too.
# See benchmarks/nnunet_env/create_env.py.
NNUNET_VENV ?= .venv-nnunet

nnunet-env: $(STAMP)
	rm -f $(NNUNET_VENV)/.failed
	$(PY) benchmarks/nnunet_env/create_env.py $(NNUNET_VENV)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

clean-demo:
	rm -rf $(DEMO_DATA)
