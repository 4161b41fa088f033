"""The operation table: which function answers which operation of which service.

Every operation the endpoint serves is listed here, module by module; an operation of the models
that is not listed answers UnsupportedCommandException. An operation is a function that takes the
request's Context and its validated members and returns the response members.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, Tuple

from pypush.server.aws import entitled, images, layers, premium, premium_images, reports, repositories, scans
from pypush.server.aws.context import Context
from pypush.server.aws.protocol import PRIVATE, PUBLIC

Operation = Callable[[Context, Dict[str, Any]], Dict[str, Any]]
BOTH = (PUBLIC, PRIVATE)
PUBLIC_ONLY = (PUBLIC,)
PRIVATE_ONLY = (PRIVATE,)

_LISTED: Tuple[Tuple[str, Tuple[str, ...], Operation], ...] = (
    # layers.py
    ("BatchCheckLayerAvailability", BOTH, layers.batch_check_layer_availability),
    ("InitiateLayerUpload", BOTH, layers.initiate_layer_upload),
    ("UploadLayerPart", BOTH, layers.upload_layer_part),
    ("CompleteLayerUpload", BOTH, layers.complete_layer_upload),
    # images.py
    ("PutImage", BOTH, images.put_image),
    ("BatchGetImage", PRIVATE_ONLY, images.batch_get_image),
    ("BatchDeleteImage", BOTH, images.batch_delete_image),
    ("DescribeImages", BOTH, images.describe_images),
    ("DescribeImageTags", PUBLIC_ONLY, images.describe_image_tags),
    ("ListImages", PRIVATE_ONLY, images.list_images),
    # repositories.py
    ("CreateRepository", BOTH, repositories.create_repository),
    ("DescribeRepositories", BOTH, repositories.describe_repositories),
    ("DeleteRepository", BOTH, repositories.delete_repository),
    ("SetRepositoryPolicy", PUBLIC_ONLY, repositories.set_repository_policy),
    ("GetRepositoryPolicy", PUBLIC_ONLY, repositories.get_repository_policy),
    ("DeleteRepositoryPolicy", PUBLIC_ONLY, repositories.delete_repository_policy),
    ("GetRepositoryCatalogData", PUBLIC_ONLY, repositories.get_repository_catalog_data),
    ("PutRepositoryCatalogData", PUBLIC_ONLY, repositories.put_repository_catalog_data),
    ("GetRegistryCatalogData", PUBLIC_ONLY, repositories.get_registry_catalog_data),
    ("PutRegistryCatalogData", PUBLIC_ONLY, repositories.put_registry_catalog_data),
    ("ListTagsForResource", PUBLIC_ONLY, repositories.list_tags_for_resource),
    ("TagResource", PUBLIC_ONLY, repositories.tag_resource),
    ("UntagResource", PUBLIC_ONLY, repositories.untag_resource),
    ("DescribeRegistries", PUBLIC_ONLY, repositories.describe_registries),
    ("GetAuthorizationToken", BOTH, repositories.get_authorization_token),
    # premium.py
    ("CreatePremiumRepository", PUBLIC_ONLY, premium.create_premium_repository),
    ("DescribePremiumRepositories", PUBLIC_ONLY, premium.describe_premium_repositories),
    ("DeletePremiumRepository", PUBLIC_ONLY, premium.delete_premium_repository),
    ("SetRepositoryState", PUBLIC_ONLY, premium.set_repository_state),
    ("PutPremiumRepositoryProducts", PUBLIC_ONLY, premium.put_premium_repository_products),
    ("GetPremiumRepositoryCatalogData", PUBLIC_ONLY, premium.get_premium_repository_catalog_data),
    ("PutPremiumRepositoryCatalogData", PUBLIC_ONLY, premium.put_premium_repository_catalog_data),
    ("SetPremiumRepositoryPolicy", PUBLIC_ONLY, premium.set_premium_repository_policy),
    ("GetPremiumRepositoryPolicy", PUBLIC_ONLY, premium.get_premium_repository_policy),
    ("DeletePremiumRepositoryPolicy", PUBLIC_ONLY, premium.delete_premium_repository_policy),
    ("AssociateRepositories", PUBLIC_ONLY, premium.associate_repositories),
    ("DisassociateRepositories", PUBLIC_ONLY, premium.disassociate_repositories),
    # premium_images.py
    ("SetImageStatus", PUBLIC_ONLY, premium_images.set_image_status),
    # entitled.py
    ("DescribeEntitledRepositories", PUBLIC_ONLY, entitled.describe_entitled_repositories),
    ("DescribeEntitledImages", PUBLIC_ONLY, entitled.describe_entitled_images),
    ("DescribeEntitledImageTags", PUBLIC_ONLY, entitled.describe_entitled_image_tags),
    # scans.py
    ("DescribeImageScanFindings", PUBLIC_ONLY, scans.describe_image_scan_findings),
    # reports.py
    ("ListPublisherReports", PUBLIC_ONLY, reports.list_publisher_reports),
    ("GetDownloadUrlForPublisherReport", PUBLIC_ONLY, reports.get_download_url_for_publisher_report),
)

OPERATIONS: Dict[Tuple[str, str], Operation] = {
    (service, name): fn for name, services, fn in _LISTED for service in services
}
"""(service, operation name) -> the function that answers it."""
