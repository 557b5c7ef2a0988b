"""Regression gating: `batch-conformance compare` (two runs' results, regressions named) and `batch-conformance
expectations update` (the expectations file written or refreshed from a run)."""
