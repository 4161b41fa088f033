"""The ECR Public management API: ``ECRPublic`` (repositories, images, tags, policies, catalog data,
resource tags, registries; premium repositories, publisher reports and the buyer's view) and the frozen
results it returns."""
from pypush.ecrpublic.client import ECRPublic
from pypush.ecrpublic.premium_results import (AssociatedRepository, Association, EntitledRepository, Finding,
                                              ImageStatusChange, PremiumRepository, Products, PublisherReport,
                                              ScanFindings, StateChange)
from pypush.ecrpublic.results import (CatalogData, DeleteFailure, DeleteResult, Image, ImageRef, Policy, RegistryAlias,
                                      RegistryCatalogData, RegistryInfo, Repository, Tag)

__all__ = ["ECRPublic", "CatalogData", "DeleteFailure", "DeleteResult", "Image", "ImageRef", "Policy", "RegistryAlias",
           "RegistryCatalogData", "RegistryInfo", "Repository", "Tag", "AssociatedRepository", "Association",
           "EntitledRepository", "Finding", "ImageStatusChange", "PremiumRepository", "Products", "PublisherReport",
           "ScanFindings", "StateChange"]
