#!/usr/bin/env bash
# make lint: ruff (lint and format check, never rewriting) and mypy strict on the sources.
source "$(dirname "$0")/_env.sh"
"${UV[@]}" run --frozen ruff check .
"${UV[@]}" run --frozen ruff format --check .
"${UV[@]}" run --frozen mypy libs/*/src services/*/src tools/*/src scripts bench
