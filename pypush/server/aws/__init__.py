"""The AWS door: the JSON 1.1 API of ECR Public and private ECR (protocol, SigV4, quotas and faults, the
operations per resource, the explicit operation table, dispatch)."""
