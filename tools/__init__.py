"""Development tools kept outside the package (not installed)."""
