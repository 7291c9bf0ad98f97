# The front door. Python does the work; see README.md.
#   make up     build what is missing, start the local cluster, `pulumi up` the local stack
#   make test   every test: lint, types, unit, then the cluster tests against a real `pulumi up`
#   make env    shell exports for plain `pulumi` and `kubectl`: eval "$$(make -s env)"
#   make down   destroy the local stack and stop the cluster
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
STACK ?= local
NODES ?= 3
export NODES

.PHONY: up test down env venv toolchain images cluster cluster-down cluster-status cluster-clean \
        deploy preview destroy unit lint cluster-test bench

$(PY): pyproject.toml
	@python3 -m venv $(VENV)
	@$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(PY)

venv: $(PY)

toolchain: $(PY)
	@$(PY) -m localcluster.toolchain

images: $(PY)
	@$(PY) -m localcluster.images

cluster: toolchain images
	@$(PY) -m localcluster.cluster up

cluster-down: $(PY)
	@$(PY) -m localcluster.cluster down

cluster-status: $(PY)
	@$(PY) -m localcluster.cluster status

cluster-clean: $(PY)
	@$(PY) -m localcluster.cluster clean

deploy: $(PY)
	@$(PY) -m localcluster.deploy up --stack $(STACK)

preview: $(PY)
	@$(PY) -m localcluster.deploy preview --stack $(STACK)

destroy: $(PY)
	@$(PY) -m localcluster.deploy destroy --stack $(STACK)

up: cluster deploy

down: destroy cluster-down

env:
	@python3 -m localcluster.env

lint: $(PY)
	@$(PY) -m ruff check .
	@$(PY) -m mypy

unit: $(PY)
	@$(PY) -m pytest -m "not cluster" tests/unit

cluster-test: $(PY)
	@$(PY) -m localcluster.incluster -- $(PY) -m pytest -m cluster tests/cluster tests/smoke

test: lint unit up cluster-test

bench: $(PY)
	@$(PY) -m localcluster.incluster -- $(PY) -m benchmarks.run
