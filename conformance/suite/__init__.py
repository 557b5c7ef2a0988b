"""The conformance suite's pytest modules (collected by `batch-conformance run`)."""
