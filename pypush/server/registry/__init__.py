"""The registry door: the OCI distribution v2 API under /v2/ (reads, uploads, manifests) behind ECR's
login (auth), routed by router.RegistryDoor."""
