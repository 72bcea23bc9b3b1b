#!/usr/bin/env bash
# make lint: ruff (lint and format check, never rewriting) and mypy: strict on the sources, relaxed on the tests.
source "$(dirname "$0")/_env.sh"
"${UV[@]}" run --frozen ruff check .
"${UV[@]}" run --frozen ruff format --check .
"${UV[@]}" run --frozen mypy libs/*/src services/*/src tools/*/src scripts bench
# One run per test folder, rooted at its parent: every folder is the package `tests` (with its own conftest.py),
# which one run would see as one module twice.
for tests in libs/*/tests services/*/tests tools/*/tests tests; do
  MYPYPATH="$(dirname "$tests")" "${UV[@]}" run --frozen mypy --explicit-package-bases "$tests"
done
