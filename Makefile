# Each target is thin and calls one script; CI runs the same ones (.ci/run -> make test).
.PHONY: run test infra demo bench chaos lint

run:    ## the whole platform in the foreground (Ctrl-C stops everything)
	@scripts/run.sh

test:   ## every test, against a real Kafka broker and PostgreSQL started for the run
	@scripts/test.sh

infra:  ## only Kafka and PostgreSQL, in the foreground
	@scripts/infra.sh

demo:   ## against a running `make run`: signed sample events and what happened downstream
	@scripts/demo.sh

bench:  ## benchmarks; results under bench/results/
	@scripts/bench.sh

chaos:  ## faults one at a time under webhook load (~10 min, not part of `make test`); bench/results/chaos.md
	@scripts/chaos.sh

lint:   ## ruff (lint + format check) and mypy
	@scripts/lint.sh
