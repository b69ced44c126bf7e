"""Maintainer tools for the course repository (run as ``python -m tools.<name>``)."""
