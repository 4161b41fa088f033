"""Python API: keyword options beside ``options=`` are merged into it, never dropped."""
from __future__ import annotations

import pytest

import pypush
from pypush.api import PushOptions, merge_options
from pypush.errors import UsageError

from conftest import REPO_ROOT

SMALL = REPO_ROOT / "fixtures" / "small.oci"


def test_keywords_beside_options_are_applied(endpoint):
    options = PushOptions(endpoint_url=endpoint.url)
    result = pypush.push(SMALL, "public.ecr.aws/local/merged:1", options=options,
                         create_repository=True, jobs=8, compression="keep")
    assert result.blobs_pushed == 4  # create_repository reached the push: the repository did not exist
    assert options.create_repository is False and options.jobs == 4  # the caller's object is left alone


def test_merge_lays_keywords_over_the_object():
    merged = merge_options(PushOptions(jobs=2, insecure=True), {"jobs": 8})
    assert (merged.jobs, merged.insecure) == (8, True)
    assert merge_options(None, {}) == PushOptions()


def test_an_unknown_option_is_a_usage_error_naming_it():
    with pytest.raises(UsageError, match="unknown option 'job'"):
        pypush.push(SMALL, "public.ecr.aws/local/x:1", options=PushOptions(), job=8)
