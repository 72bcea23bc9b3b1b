"""Provider sandboxes for development and tests: fake provider servers, failures included.

`intplat_sandboxes.framework` is the machinery every fake shares (request log, fault rules, movable clock, serving);
each provider is one subpackage on top of it (`intplat_sandboxes.postmark`). Services never import this package:
it is a development tool (`make run`, tests, benchmarks), checked by tests/boundaries.
"""
