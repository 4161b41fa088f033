"""Mistakes newcomers make get a usage error (exit 2) naming the real mistake, before anything is read or sent."""
from __future__ import annotations

import json
import logging
import socket

import pytest
import requests

from conftest import free_port
from pypush.api import PushOptions, check_options
from pypush.cli.main import main
from pypush.name.reference import ecr_host_suggestion, parse_reference
from pypush.net.retry import describe_network_error

SOURCE = "fixtures/small.oci"


def error_line(capsys, *argv: str) -> str:
    """Run the CLI; assert exit 2 and one line on stderr, nothing on stdout; that line."""
    code = main(list(argv))
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == 2, (argv, captured.err)
    assert len(lines) == 1 and lines[0].startswith("pypush: error: ") and not captured.out, captured
    assert "((" not in lines[0] and "))" not in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("argv", [
    ["push", SOURCE, "public.ecr.aws/local/app:1", "--endpoint-url", "127.0.0.1:5000"],
    ["push", SOURCE, "public.ecr.aws/local/app:1", "--endpoint-url", "localhost:5000"],
    ["repo", "list", "--endpoint-url", "127.0.0.1:5000"],
])
def test_endpoint_url_without_scheme(capsys, argv) -> None:
    line = error_line(capsys, *argv)
    assert "--endpoint-url" in line and f"write http://{argv[-1]}" in line


@pytest.mark.parametrize("destination, suggestion", [
    ("pubic.ecr.aws/alias/app:1", "public.ecr.aws"),
    ("public.ecr.aw/alias/app:1", "public.ecr.aws"),
    ("123456789012.dkr.ecr.us-east-1.amazonaws.co/app:1", "123456789012.dkr.ecr.us-east-1.amazonaws.com"),
    ("123456789012.dkr.ecr.us-east-1.amazonaw.com/app:1", "123456789012.dkr.ecr.us-east-1.amazonaws.com"),
    ("ghcr.io/me/app:1", None),
])
@pytest.mark.parametrize("option", [["--endpoint-url", "http://127.0.0.1:1"], ["--create-repository"],
                                    ["--profile", "prod"], ["--rate-limit", "PutImage=1"]])
def test_ecr_only_options_with_a_v2_destination(capsys, destination, suggestion, option) -> None:
    line = error_line(capsys, "push", SOURCE, destination, *option)
    host = destination.split("/", 1)[0]
    assert f"{option[0]} applies only to ECR destinations" in line
    assert "v2 transport" in line and f"{host} is not an ECR host" in line
    assert (f"did you mean {suggestion}?" in line) if suggestion else ("did you mean" not in line), line


def test_several_ecr_only_options_are_all_named(capsys) -> None:
    line = error_line(capsys, "push", SOURCE, "docker://public.ecr.aws/alias/app:1", "--profile", "p",
                      "--create-repository")
    assert "--create-repository, --profile apply only to ECR destinations" in line
    assert "docker:// selects the OCI distribution API" in line


def test_ecr_api_options_with_transport_v2(capsys) -> None:
    line = error_line(capsys, "push", SOURCE, "public.ecr.aws/alias/app:1", "--transport", "v2",
                      "--create-repository")
    assert "--create-repository applies only to the ECR API" in line and "--transport v2" in line


def test_transport_ecr_with_a_typo_suggests_the_host(capsys) -> None:
    line = error_line(capsys, "push", SOURCE, "pubic.ecr.aws/alias/app:1", "--transport", "ecr")
    assert "did you mean public.ecr.aws?" in line


def test_a_typo_without_ecr_options_is_warned_about(caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="pypush"):
        check_options(parse_reference("pubic.ecr.aws/alias/app:1"), PushOptions())
    assert "did you mean public.ecr.aws?" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="pypush"):
        check_options(parse_reference("ghcr.io/me/app:1"), PushOptions())
        check_options(parse_reference("public.ecr.aws/alias/app:1"), PushOptions(endpoint_url="http://x:1",
                                                                                   create_repository=True))
    assert caplog.text == ""


@pytest.mark.parametrize("host, expected", [
    ("public.ecr.aws", None), ("ecr.aws", None), ("docker.io", None), ("publicecr.aws", "public.ecr.aws"),
    ("123456789012.dkr.ecr.eu-west-1.amazonaws.com", None),
    ("123456789012.dkr.ecr.eu-west-1.amazonaws.comm", "123456789012.dkr.ecr.eu-west-1.amazonaws.com"),
    ("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cm", "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn"),
    ("123456789012.dkr.ecrus-east-1.amazonaws.com", "123456789012.dkr.ecr.us-east-1.amazonaws.com"),
])
def test_ecr_host_suggestion(host, expected) -> None:
    assert ecr_host_suggestion(host) == expected


@pytest.mark.parametrize("destination, tag", [("public.ecr.aws/local/app::1", "':1'"),
                                              ("localhost:5000/team/app::1", "':1'"),
                                              ("registry.example.com/app:-x", "'-x'")])
def test_bad_tag_is_reported_as_a_tag(capsys, destination, tag) -> None:
    line = error_line(capsys, "push", SOURCE, destination)
    assert f"invalid tag {tag} in {destination!r}" in line and "repository" not in line


def test_network_errors_are_one_short_cause() -> None:
    port = free_port()  # nothing listens there
    with pytest.raises(requests.ConnectionError) as info:
        requests.get(f"http://127.0.0.1:{port}/v2/", timeout=5)
    assert describe_network_error(info.value) == "connection refused"
    assert describe_network_error(socket.gaierror(-2, "Name or service not known")) == \
        "DNS lookup failed: Name or service not known"


def test_login_format_json(endpoint, capsys) -> None:
    assert main(["login", "--endpoint-url", endpoint.url, "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["registry"] == "public.ecr.aws" and doc["username"] == "AWS" and doc["password"]
