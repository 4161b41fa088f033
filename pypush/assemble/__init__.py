"""Building images without Docker: reproducible layers and config changes assembled on a base image."""
