# Drover's two commands for a newcomer: `make demo` and `make test`. Everything else here is
# what those two are made of.

CARGO ?= cargo
BUF := tools/node_modules/.bin/buf

.PHONY: all demo test setup lint fmt-check clippy unit-tests doc fmt

all: test

## demo: run Drover's main job on embedded defaults: `drover up` (scheduler, one browser,
## the AI router with its labelled stand-in provider), the example site, and the workflows
## in examples/, then a summary; everything stops at the end.
demo: setup
	$(CARGO) build --locked -p drover
	target/debug/drover demo --examples examples

## test: install anything missing, then run every check CI runs.
test: setup lint fmt-check clippy unit-tests doc
	@echo "make test: all checks passed"

## setup: install missing tools (idempotent).
setup:
	@scripts/setup.sh

## lint: buf lint over proto/.
lint:
	$(BUF) lint

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
