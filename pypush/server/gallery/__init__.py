"""A local ECR Public Gallery: server-rendered HTML pages of the endpoint's repositories, their
catalog data (markdown About and Usage, logo, badges) and tags, on ``GET /`` of `pypush serve`."""
from __future__ import annotations

from pypush.server.gallery.site import Gallery, sniff_image_type

__all__ = ["Gallery", "sniff_image_type"]
