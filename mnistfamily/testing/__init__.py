"""Helpers for tests, ours and our users': miniature datasets and a loopback HTTP server."""
