"""Transports: how blobs and manifests move to a destination (ECR API, OCI distribution v2)."""
