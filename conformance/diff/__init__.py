"""`batch-conformance diff`: the command, the classification of differences, the diff report."""
