"""`batch-conformance validate-traffic`: recorded exchanges judged offline."""
