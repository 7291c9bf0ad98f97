# The front door. Python does the work; see README.md.
#   make up     build what is missing, start the local cluster, `pulumi up` the local stack
#   make test   every test: lint, types, unit, then the cluster tests against a real `pulumi up`
#   make env    shell exports for plain `pulumi` and `kubectl`: eval "$$(make -s env)"
#   make down   destroy the local stack and stop the cluster
#   make cluster-logs   every component's log and the cluster's runtime state in one folder
#   make review STACK=dev   the change and the policy pack's report, for a pull request
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
GO    := GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0 go
STACK ?= local
NODES ?= 3
export NODES

.PHONY: up test down env venv toolchain images cluster cluster-down cluster-status cluster-clean cluster-logs \
        deploy preview destroy unit lint cluster-test bench policy-venv review langhost-test

$(PY): pyproject.toml
	@python3 -m venv $(VENV)
	@$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(PY)

venv: $(PY)

# The policy pack's own virtualenv (policy/.venv): pulumi-policy pins a protobuf the project does not use.
policy-venv: $(PY)
	@$(PY) -m policy.install

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

cluster-logs: $(PY)
	@$(PY) -m localcluster.cluster logs

deploy: $(PY) policy-venv
	@$(PY) -m localcluster.deploy up --stack $(STACK)

preview: $(PY) policy-venv
	@$(PY) -m localcluster.deploy preview --stack $(STACK)

destroy: $(PY)
	@$(PY) -m localcluster.deploy destroy --stack $(STACK)

review: $(PY) policy-venv
	@$(PY) -m policy.review --stack $(STACK)

up: cluster deploy

down: destroy cluster-down

env:
	@python3 -m localcluster.env

lint: $(PY)
	@$(PY) -m ruff check .
	@$(PY) -m mypy

unit: $(PY)
	@$(PY) -m pytest -m "not cluster" tests/unit

langhost-test:
	@cd localcluster/toolchain/langhost && $(GO) test ./...

cluster-test: $(PY) policy-venv
	@$(PY) -m localcluster.incluster -- $(PY) -m pytest -m cluster tests/cluster tests/smoke

test: lint unit up langhost-test cluster-test

bench: $(PY)
	@$(PY) -m localcluster.incluster -- $(PY) -m benchmarks.run
