#!/usr/bin/env bash
# make lint: ruff (lint and format check, never rewriting), mypy strict on the sources and relaxed on the tests.
source "$(dirname "$0")/_env.sh"
"${UV[@]}" run --frozen ruff check .
"${UV[@]}" run --frozen ruff format --check .
"${UV[@]}" run --frozen mypy libs/*/src services/*/src tools/*/src scripts bench libs/*/tests services/*/tests tools/*/tests tests
