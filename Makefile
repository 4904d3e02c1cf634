# Drover's two commands for a newcomer: `make demo` and `make test`. Everything else here is
# what those two are made of.

CARGO ?= cargo
BUF := tools/node_modules/.bin/buf
# Where buf.gen.yaml writes; checked in, and checked for staleness by `make test`.
GENERATED := clients/go/gen clients/python/src/drover/v1 clients/typescript/src/gen \
  clients/typescript/src/vendor

.PHONY: all demo test setup lint fmt-check clippy unit-tests doc fmt generate generate-check client-tests load bench

all: test

## demo: run Drover's main job on embedded defaults: `drover up` (scheduler, one browser,
## the AI router with its labelled stand-in provider), the example site, and the workflows
## in examples/, then a summary; everything stops at the end.
demo: setup
	$(CARGO) build --locked -p drover
	target/debug/drover demo --examples examples

## test: install anything missing, then run every check CI runs.
test: setup lint generate-check fmt-check clippy unit-tests doc client-tests
	@echo "make test: all checks passed"

## setup: install missing tools (idempotent).
setup:
	@scripts/setup.sh

## lint: buf lint over proto/.
lint:
	$(BUF) lint

## generate: regenerate the Go, Python and TypeScript clients' code from proto/ (buf.gen.yaml),
## and the TypeScript client's copy of google.rpc's error details.
generate: setup
	$(BUF) generate
	clients/typescript/scripts/generate-error-details.sh

## generate-check: regenerate and fail if the checked-in generated code was stale.
generate-check:
	$(BUF) generate
	clients/typescript/scripts/generate-error-details.sh
	@if ! git diff --quiet -- $(GENERATED) || [ -n "$$(git ls-files --others --exclude-standard -- $(GENERATED))" ]; then \
	  git status --short -- $(GENERATED); \
	  echo "generate-check: the generated client code is stale: run make generate and commit"; \
	  exit 1; \
	fi

## client-tests: each non-Rust client's tests against a real `drover up` (the Rust client's run
## in unit-tests). Each clients/<lang>/test.sh installs its own dependencies, idempotently.
## The binary is the one `cargo test` builds (same features: after unit-tests, nothing to do).
client-tests:
	$(CARGO) test --workspace --locked --no-run
	@for script in clients/*/test.sh; do \
	  echo "== $$script"; DROVER_BIN=$(CURDIR)/target/debug/drover $$script || exit 1; \
	done

## load: ghz load tests (tests/load/*.json) against a `drover up` this target starts; writes
## ghz JSON reports into target/load/.
load: setup
	$(CARGO) build --locked -p drover
	DROVER_BIN=$(CURDIR)/target/debug/drover scripts/load.sh

## bench: every benchmark in one run on this machine, then the end-to-end comparison; writes
## the Markdown report to docs/benchmarks.md.
bench: setup
	scripts/bench.sh

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

unit-tests:
	$(CARGO) test --workspace --locked

doc:
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --workspace --no-deps --locked

## fmt: format the Rust code.
fmt:
	$(CARGO) fmt --all
