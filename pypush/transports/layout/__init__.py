"""Destinations that write OCI image layouts on disk."""
