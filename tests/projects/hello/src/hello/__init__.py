"""A small app with a C-extension dependency (markupsafe's _speedups) for the pypush build tests."""
