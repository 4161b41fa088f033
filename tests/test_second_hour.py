"""A newcomer's second hour (issue 23): results name only where bytes went, usage mistakes are exit 2 with a
"did you mean", refused connections fail at once, and the errors say what works for that registry."""
from __future__ import annotations

import base64
import json
import socket
import subprocess
import sys
import tarfile

import pytest

from auth_registries import PASSWORD, USER, basic_registry  # noqa: F401 - a fixture
from conftest import FIXTURES, free_port, run_pypush
from pullcheck import oci_top_digest

import pypush

from pypush.errors import RegistryError, SourceError, UsageError
from pypush.image.digest import digest_of
from pypush.name.reference import parse_destination
from pypush.net.retry import Backoff, retry_call

SMALL = "oci:fixtures/small.oci:1"


# -- 1. a result names only where the bytes went ----------------------------------------------------
def test_repush_to_another_alias_is_not_answered_by_the_callers_registry(endpoint) -> None:
    """``local/app:1`` exists; ``notmine/app:1`` names another registry: the re-push question must not take
    the caller's own image as proof, and nothing is printed as pushed where nothing went."""
    first = run_pypush("push", SMALL, "public.ecr.aws/local/app:1", "--endpoint-url", endpoint.url,
                       "--create-repository")
    assert first.returncode == 0, first.stderr
    proc = run_pypush("push", SMALL, "public.ecr.aws/notmine/app:1", "--endpoint-url", endpoint.url,
                      "--create-repository")
    assert proc.returncode == 4 and proc.stdout == "", (proc.stdout, proc.stderr)
    assert "RegistryNotFoundException" in proc.stderr and "notmine" in proc.stderr
    with pytest.raises(RegistryError, match="RegistryNotFoundException"):
        pypush.push(SMALL, "public.ecr.aws/notmine/app:1", endpoint_url=endpoint.url, create_repository=True)
    # the same image at the caller's own alias is still recognised as unchanged
    again = run_pypush("push", SMALL, "public.ecr.aws/local/app:1", "--endpoint-url", endpoint.url,
                       "--format", "json")
    assert again.returncode == 0 and json.loads(again.stdout)["unchanged"], again.stderr
    assert json.loads(again.stdout)["digest"] == oci_top_digest(FIXTURES / "small.oci")


def test_both_tag_questions_answer_only_for_the_alias_asked(endpoint) -> None:
    """The botocore-free probe and the transport's own question: unknown for a foreign alias, the digest for
    the caller's."""
    from pypush.transports.ecr.ecr_tag_probe import tag_digests
    from pypush.transports.ecr.ecr_transport import EcrTransport

    pypush.push(SMALL, "public.ecr.aws/local/app:1", endpoint_url=endpoint.url, create_repository=True)
    digest = oci_top_digest(FIXTURES / "small.oci")
    mine, foreign = parse_destination("public.ecr.aws/local/app:1"), parse_destination("public.ecr.aws/notmine/app:1")
    assert tag_digests(mine, ["1"], endpoint.url) == {"1": digest}
    assert tag_digests(foreign, ["1"], endpoint.url) is None
    for dest, expected in ((mine, {"1": digest}), (foreign, {})):
        transport = EcrTransport(dest, endpoint_url=endpoint.url)
        try:
            assert transport.tag_digests(["1"]) == expected
        finally:
            transport.close()


# -- 2. --endpoint-url with --transport v2 ------------------------------------------------------------
def test_endpoint_url_with_transport_v2_is_a_usage_error() -> None:
    """Nothing is sent anywhere (the port is closed: a push would fail otherwise, not with exit 2)."""
    args = (SMALL, "public.ecr.aws/local/app:1", "--endpoint-url", "http://127.0.0.1:9", "--transport", "v2")
    proc = run_pypush("push", *args)
    assert proc.returncode == 2 and proc.stdout == "", proc.stderr
    assert "--endpoint-url applies only to the ECR API" in proc.stderr and "127.0.0.1:9/local/app" in proc.stderr
    with pytest.raises(UsageError, match="--endpoint-url applies only to the ECR API"):
        pypush.push(SMALL, "public.ecr.aws/local/app:1", endpoint_url="http://127.0.0.1:9", transport="v2")


# -- 3. refused connections fail at once; retries are for what can heal ---------------------------------
@pytest.mark.parametrize("error, attempts", [(ConnectionRefusedError(111, "Connection refused"), 1),
                                              (socket.gaierror(-2, "Name or service not known"), 2),
                                              (ConnectionResetError(104, "Connection reset by peer"), 5),
                                              (socket.timeout("timed out"), 5)])
def test_only_what_can_heal_is_retried(error, attempts) -> None:
    calls, waits = [], []

    def fail() -> None:
        calls.append(1)
        try:
            raise error
        except OSError as exc:  # as a client library wraps it
            raise RuntimeError("request failed") from exc

    with pytest.raises(RuntimeError):
        retry_call(fail, is_transient=lambda exc: True, backoff=Backoff(attempts=5), sleep=waits.append)
    assert len(calls) == attempts and len(waits) == attempts - 1


@pytest.mark.parametrize("command", [
    ("push", SMALL, "127.0.0.1:{port}/app:1"),
    ("pull", "docker://127.0.0.1:{port}/app:1", "{tmp}/p"),
    ("push", SMALL, "public.ecr.aws/local/app:1", "--endpoint-url", "http://127.0.0.1:{port}"),
    ("images", "list", "app", "--endpoint-url", "http://127.0.0.1:{port}"),
])
def test_a_closed_port_is_one_attempt_and_says_so(command, tmp_path) -> None:
    port = free_port()  # nothing listens there
    args = [a.format(port=port, tmp=tmp_path) for a in command]
    proc = run_pypush("-v", *args)
    assert proc.returncode == 6 and proc.stdout == "", proc.stderr
    assert "connection refused, not retried: nothing listens there" in proc.stderr, proc.stderr
    assert " retry " not in proc.stderr and "Retry needed" not in proc.stderr, proc.stderr
    assert not (tmp_path / "p").exists()


def test_a_name_that_does_not_resolve_is_retried_once_at_most() -> None:
    proc = run_pypush("-v", "push", SMALL, "registry.pypush-test.invalid/app:1")
    assert proc.returncode == 6 and "DNS lookup failed" in proc.stderr and "check the host name" in proc.stderr
    assert proc.stderr.count(" retry ") <= 1, proc.stderr


# -- 4. a registry reference without docker:// where a source is expected --------------------------------
@pytest.mark.parametrize("argv", [
    ("copy", "127.0.0.1:45121/app:1", "oci:{tmp}/c"),
    ("pull", "127.0.0.1:5055/app:1", "{tmp}/p5"),
    ("mutate", "public.ecr.aws/local/app:2", "oci:{tmp}/m", "--env", "A=1"),
    ("push", "localhost:5000/team/app", "oci:{tmp}/p"),
    ("append", "--base", "ghcr.io/o/base:1", "--layer", "README.md", "oci:{tmp}/a"),
])
def test_a_registry_reference_read_as_a_file_suggests_docker(argv, tmp_path) -> None:
    args = [a.format(tmp=tmp_path) for a in argv]
    ref = args[2] if args[0] == "append" else args[1]
    proc = run_pypush(*args)
    assert proc.returncode == 2 and proc.stdout == "", proc.stderr
    assert proc.stderr.strip() == f"pypush: error: {ref}: no such file or directory; did you mean docker://{ref}?"
    assert list(tmp_path.iterdir()) == []


def test_the_docker_hint_through_the_api_and_not_for_paths(tmp_path, monkeypatch) -> None:
    with pytest.raises(UsageError, match=r"did you mean docker://127\.0\.0\.1:5055/app:1\?"):
        pypush.copy("127.0.0.1:5055/app:1", f"oci:{tmp_path}/c")
    for path in ("fixtures/nosuch.oci", "./build.d/app", "nosuch.tar"):  # paths stay paths: exit 3, no hint
        proc = run_pypush("push", path, f"oci:{tmp_path}/o")
        assert proc.returncode == 3 and "did you mean" not in proc.stderr, proc.stderr
    # what exists on disk wins over the reading as a reference (here: a directory that is no image)
    (tmp_path / "localhost:5000" / "app").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SourceError) as info:
        pypush.copy("localhost:5000/app", f"oci:{tmp_path}/o")
    assert "did you mean" not in str(info.value) and not isinstance(info.value, UsageError)


# -- 6. pypush login stores credentials for any registry; auth errors give the recipe that works --------
def test_login_stores_docker_credentials_that_pushes_and_skopeo_use(basic_registry, docker_config, skopeo,
                                                                   tmp_path) -> None:
    host = basic_registry.host
    (docker_config / "config.json").write_text(json.dumps({"auths": {"other.example": {"auth": "eDp5"}},
                                                           "HttpHeaders": {"X-Kept": "1"}}))
    refused = run_pypush("push", SMALL, f"{host}/app:1")  # anonymous: the recipe, not the flags
    assert refused.returncode == 5 and f"log in with `pypush login {host} -u USER --password-stdin`" in refused.stderr
    wrong = run_pypush("login", host, "-u", USER, "--password-stdin", input="not-it\n")
    assert wrong.returncode == 5 and "check the user name and the password given" in wrong.stderr, wrong.stderr
    assert json.loads((docker_config / "config.json").read_text())["auths"] == {"other.example": {"auth": "eDp5"}}
    login = run_pypush("login", host, "-u", USER, "--password-stdin", input=PASSWORD + "\n")
    assert login.returncode == 0 and str(docker_config / "config.json") in login.stdout, login.stderr
    config = json.loads((docker_config / "config.json").read_text())
    assert config["auths"][host] == {"auth": base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()}
    assert config["auths"]["other.example"] == {"auth": "eDp5"} and config["HttpHeaders"] == {"X-Kept": "1"}
    assert (docker_config / "config.json").stat().st_mode & 0o777 == 0o600
    pushed = run_pypush("push", SMALL, f"{host}/app:1", "--format", "json")
    assert pushed.returncode == 0, pushed.stderr
    out = skopeo.run("inspect", "--raw", "--tls-verify=false", "--authfile", str(docker_config / "config.json"),
                     f"docker://{host}/app:1").stdout
    assert digest_of(out.encode()) == json.loads(pushed.stdout)["digest"]
    # credentials stored and now refused: said so, with the way to renew them
    config["auths"][host] = {"auth": base64.b64encode(f"{USER}:stale".encode()).decode()}
    (docker_config / "config.json").write_text(json.dumps(config))
    stale = run_pypush("push", SMALL, f"{host}/app:2")
    assert stale.returncode == 5 and "were refused: log in again with `pypush login" in stale.stderr, stale.stderr


def test_login_to_the_endpoints_registry_and_through_the_api(endpoint, docker_config) -> None:
    door = endpoint.host_port
    assert run_pypush("repo", "create", "app", "--endpoint-url", endpoint.url).returncode == 0
    anonymous = run_pypush("push", SMALL, f"{door}/app:1")
    assert anonymous.returncode == 5 and f"pypush login {door} -u USER" in anonymous.stderr, anonymous.stderr
    login = run_pypush("login", door, "--endpoint-url", endpoint.url, "--format", "json")
    assert login.returncode == 0, login.stderr
    assert json.loads(login.stdout)["username"] == "AWS"
    pushed = run_pypush("push", SMALL, f"{door}/app:1")
    assert pushed.returncode == 0 and pushed.stdout.startswith(f"{door}/app@sha256:"), pushed.stderr
    (docker_config / "config.json").unlink()
    user, where = pypush.login(door, endpoint_url=endpoint.url)
    assert user == "AWS" and where == str(docker_config / "config.json") and door in json.loads(
        (docker_config / "config.json").read_text())["auths"]


@pytest.mark.parametrize("argv", [("login", "127.0.0.1:9", "-u", "AWS"),
                                  ("push", SMALL, "127.0.0.1:9/app:1", "-u", "AWS"),
                                  ("copy", "docker://127.0.0.1:9/app:1", "oci:x", "--src-username", "AWS"),
                                  ("login", "127.0.0.1:9"),
                                  ("login", "-u", "AWS", "--password-stdin")])
def test_half_a_login_is_a_usage_error(argv) -> None:
    proc = run_pypush(*argv, input="pw\n")
    assert proc.returncode == 2 and proc.stdout == "", proc.stderr
    assert "password-stdin" in proc.stderr or "name the registry" in proc.stderr, proc.stderr


def test_the_login_recipe_fits_the_registry() -> None:
    from pypush.transports.distribution.docker_credentials import Credentials, login_hint

    for ecr in ("public.ecr.aws", "123456789012.dkr.ecr.eu-west-1.amazonaws.com"):
        assert "AWS credentials" in login_hint(ecr, None) and "-u USER" not in login_hint(ecr, None)
    assert "-u USER --password-stdin" in login_hint("ghcr.io", None)
    assert "password-stdin" not in login_hint("ghcr.io", Credentials("u", "p"))


# -- 7. other tools' flags get a "did you mean"; one grammar on every command ---------------------------
@pytest.mark.parametrize("argv, flag", [
    (("pull", "docker://h.example/a:1", "oci:x", "--tls-verify=false"), "--insecure"),
    (("pull", "docker://h.example/a:1", "oci:x", "--src-tls-verify=false"), "--insecure"),
    (("push", SMALL, "h.example/a:1", "--tls-verify=false"), "--insecure"),
    (("push", SMALL, "h.example/a:1", "--dest-tls-verify=false"), "--insecure"),
    (("copy", "docker://h.example/a:1", "h.example/b:1", "--src-tls-verify=false"), "--src-insecure"),
    (("copy", SMALL, "h.example/a:1", "--plain-http"), "--insecure"),
    (("push", SMALL, "h.example/a:1", "--dest-creds", "me:hunter2"), "-u USER --password-stdin"),
    (("repo", "create", "app", "--descripton", "x"), "--description"),
])
def test_other_tools_flags_name_pypushs(argv, flag) -> None:
    proc = run_pypush(*argv)
    assert proc.returncode == 2 and proc.stdout == "", proc.stderr
    assert proc.stderr.strip().endswith(f"; did you mean {flag}?"), proc.stderr
    assert "hunter2" not in proc.stderr


def test_pull_takes_the_registry_flags_of_every_command(registry, tmp_path) -> None:
    pushed = pypush.push(SMALL, f"{registry.host}/pulled:1")
    proc = run_pypush("pull", "--insecure", f"docker://{registry.host}/pulled:1", str(tmp_path / "p"), "-q")
    assert proc.returncode == 0, proc.stderr
    assert oci_top_digest(tmp_path / "p") == pushed.digest
    from pypush.cli.main import build_parser

    args = build_parser("pull").parse_args(["pull", "a", "b", "--insecure", "-u", "me", "--password-stdin"])
    assert (args.src_insecure, args.src_username, args.src_password_stdin) == (True, "me", True)


def _leaf_commands():
    from pypush.cli.main import build_parser

    def walk(parser, path):
        subs = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
        if not subs:
            yield path
            return
        for name, child in subs[0].choices.items():
            yield from walk(child, (*path, name))
    return list(walk(build_parser(), ()))


@pytest.mark.parametrize("path", _leaf_commands(), ids=" ".join)
def test_global_flags_before_or_after_every_command(path, capsys) -> None:
    from pypush.cli.main import main

    for argv in ((*path, "-q", "-v", "--zz-unknown"), ("-v", *path, "-q", "--zz-unknown")):
        assert main(list(argv)) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("pypush: error: ") and "-q" not in err and "-v" not in err, (argv, err)
        assert "unrecognized arguments: --zz-unknown" in err or "arguments are required" in err, (argv, err)


# -- 8. pull to a .tar writes an OCI archive; what a pull writes honours the umask -------------------------
def test_pull_to_a_tar_path_writes_an_oci_archive(registry, tmp_path, skopeo) -> None:
    pushed = pypush.push(SMALL, f"{registry.host}/tarred:1")
    proc = run_pypush("pull", f"docker://{registry.host}/tarred:1", str(tmp_path / "w2.tar"), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    archive = tmp_path / "w2.tar"
    assert archive.is_file() and tarfile.is_tarfile(archive)
    assert json.loads(proc.stdout)["digest"] == pushed.digest
    raw = skopeo.run("inspect", "--raw", f"oci-archive:{archive}").stdout  # another reader of the archive
    assert digest_of(raw.encode()) == pushed.digest
    tagged = pypush.pull(f"docker://{registry.host}/tarred:1", tmp_path / "w3.tar:v1")
    assert tagged.tags == ["v1"] and tarfile.is_tarfile(tmp_path / "w3.tar")


@pytest.mark.parametrize("mask", [0o022, 0o002, 0o077])
def test_pulled_layouts_honour_the_umask(registry, tmp_path, mask) -> None:
    pypush.push(SMALL, f"{registry.host}/masked:1")
    script = ("import os, sys, pypush; os.umask(int(sys.argv[1], 8)); "
              "pypush.pull(sys.argv[2], sys.argv[3]); pypush.pull(sys.argv[2], sys.argv[4])")
    proc = subprocess.run([sys.executable, "-c", script, oct(mask), f"docker://{registry.host}/masked:1",
                           str(tmp_path / "layout"), str(tmp_path / "image.tar")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    made = [tmp_path / "layout", *(tmp_path / "layout").rglob("*")]
    for path in made:
        expected = (0o777 if path.is_dir() else 0o666) & ~mask
        assert path.stat().st_mode & 0o777 == expected, (path, oct(path.stat().st_mode))
    assert (tmp_path / "image.tar").stat().st_mode & 0o777 == 0o666 & ~mask


# -- 9. a missing tag: latest assumed is said, the tags there are listed; a bad tag is a tag ---------------
def test_a_missing_tag_says_latest_was_assumed_and_lists_the_tags(registry, tmp_path) -> None:
    for tag in ("2", "1", "stable"):
        pypush.push(SMALL, f"{registry.host}/listed:{tag}")
    proc = run_pypush("pull", f"docker://{registry.host}/listed", f"oci:{tmp_path}/t2")
    assert proc.returncode == 3 and not (tmp_path / "t2").exists(), proc.stderr
    assert "listed:latest: no such image" in proc.stderr and "no tag given, so latest was assumed" in proc.stderr
    assert proc.stderr.strip().endswith("its tags: 1, 2, stable"), proc.stderr
    with pytest.raises(pypush.NoSuchImage, match=r"listed:3: no such image .*; its tags: 1, 2, stable$") as info:
        pypush.pull(f"docker://{registry.host}/listed:3", tmp_path / "t3")
    assert "latest was assumed" not in str(info.value)
    with pytest.raises(pypush.NoSuchImage, match="there is no such repository$"):
        pypush.copy(f"docker://{registry.host}/never", f"oci:{tmp_path}/t4")


@pytest.mark.parametrize("ref", ["docker://127.0.0.1:5000/app:Bad/Tag", "127.0.0.1:5000/app:Bad/Tag"])
def test_a_tag_with_a_slash_is_an_invalid_tag(ref) -> None:
    proc = run_pypush("push", SMALL, ref)
    assert proc.returncode == 2 and "invalid tag 'Bad/Tag'" in proc.stderr and "repository" not in proc.stderr
    proc = run_pypush("pull", ref if ref.startswith("docker://") else "docker://" + ref, "oci:x")
    assert proc.returncode == 2 and "invalid tag 'Bad/Tag'" in proc.stderr, proc.stderr


# -- 11. the API names its keyword, the CLI its flag; NoSuchImage is pypush's -----------------------------
def test_a_missing_repository_names_the_keyword_in_the_api_and_the_flag_in_the_cli(endpoint) -> None:
    with pytest.raises(RegistryError, match="RepositoryNotFoundException") as info:
        pypush.push(SMALL, "public.ecr.aws/local/absent:1", endpoint_url=endpoint.url)
    assert "create_repository=True" in str(info.value) and "--create-repository" not in str(info.value)
    proc = run_pypush("push", SMALL, "public.ecr.aws/local/absent:1", "--endpoint-url", endpoint.url)
    assert proc.returncode == 4 and "push with --create-repository" in proc.stderr, proc.stderr
    assert "create_repository=True" not in proc.stderr


def test_no_such_image_is_exported_in_the_hierarchy() -> None:
    from pypush import errors
    from pypush.sources import remote

    assert pypush.NoSuchImage is errors.NoSuchImage is remote.NoSuchImage and "NoSuchImage" in pypush.__all__
    assert issubclass(pypush.NoSuchImage, pypush.SourceError) and pypush.NoSuchImage.exit_code == 3


# -- 12. a read does not advise a write ------------------------------------------------------------------
@pytest.mark.parametrize("argv", [("images", "list", "nosuchrepo"), ("tags", "list", "nosuchrepo"),
                                  ("repo", "describe", "nosuchrepo"), ("policy", "get", "nosuchrepo")])
def test_reading_a_missing_repository_does_not_suggest_creating_it(endpoint, argv) -> None:
    proc = run_pypush(*argv, "--endpoint-url", endpoint.url)
    assert proc.returncode == 4 and "RepositoryNotFoundException" in proc.stderr, proc.stderr
    assert "create" not in proc.stderr.lower() and "pypush repo list" in proc.stderr, proc.stderr


# -- 10. policy set needs --force for a policy that locks the caller out -----------------------------------
DENY_ALL = {"Version": "2012-10-17", "Statement": [{"Sid": "NoOne", "Effect": "Deny", "Principal": "*",
                                                    "Action": "ecr-public:*"}]}


@pytest.mark.parametrize("statement, locks", [
    ({"Effect": "Deny", "Principal": "*", "Action": "ecr-public:*"}, True),
    ({"Effect": "Deny", "Principal": {"AWS": ["*"]}, "Action": ["ecr-public:PutImage"]}, True),
    ({"Effect": "Deny", "Principal": "*", "Action": "*"}, True),
    ({"Effect": "Deny", "Principal": "*", "NotAction": "ecr-public:Describe*"}, True),
    ({"Effect": "Deny", "Principal": "*", "Action": "ecr-public:DeleteRepository"}, False),
    ({"Effect": "Deny", "Principal": "*", "Action": "ecr-public:*",
      "Condition": {"StringNotEquals": {"aws:PrincipalAccount": "123456789012"}}}, False),
    ({"Effect": "Deny", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "ecr-public:*"}, False),
    ({"Effect": "Allow", "Principal": "*", "Action": "ecr-public:*"}, False),
])
def test_which_policies_lock_the_caller_out(statement, locks) -> None:
    from pypush.ecrpublic.policy_check import locked_out

    assert bool(locked_out({"Version": "2012-10-17", "Statement": [statement]})) is locks


def test_policy_set_refuses_a_lockout_without_force(endpoint, tmp_path) -> None:
    assert run_pypush("repo", "create", "locked", "--endpoint-url", endpoint.url).returncode == 0
    policy = tmp_path / "deny.json"
    policy.write_text(json.dumps(DENY_ALL))
    refused = run_pypush("policy", "set", "locked", str(policy), "--endpoint-url", endpoint.url)
    assert refused.returncode == 2 and "statement NoOne denies" in refused.stderr, refused.stderr
    assert "pass --force if that is meant" in refused.stderr
    unset = run_pypush("policy", "get", "locked", "--endpoint-url", endpoint.url)
    assert unset.returncode == 4 and "RepositoryPolicyNotFoundException" in unset.stderr  # nothing was sent
    with pytest.raises(UsageError, match="pass force=True"):
        pypush.ECRPublic(endpoint_url=endpoint.url).set_policy("locked", DENY_ALL)
    forced = run_pypush("policy", "set", "locked", str(policy), "--force", "--endpoint-url", endpoint.url,
                        "--format", "json")
    assert forced.returncode == 0 and json.loads(forced.stdout)["policy"] == DENY_ALL, forced.stderr
    assert "--force" in run_pypush("policy", "set", "--help").stdout and "locks you out" in run_pypush(
        "policy", "set", "--help").stdout


# -- 13. an unchanged re-push says so -------------------------------------------------------------------
def test_an_unchanged_repush_says_nothing_was_uploaded(registry) -> None:
    dest = f"{registry.host}/again:1"
    first = run_pypush("push", SMALL, dest)
    assert first.returncode == 0 and "unchanged" not in first.stderr, first.stderr
    again = run_pypush("push", SMALL, dest)
    assert again.returncode == 0 and again.stdout == first.stdout, again.stderr  # the reference, as scripts read it
    assert again.stderr.strip() == f"pypush: {first.stdout.strip()} unchanged: every tag already named it, " \
                                   f"nothing uploaded"
    assert run_pypush("push", SMALL, dest, "-q").stderr == ""


# -- every command's --help shows examples, and each example is a command pypush parses ----------------------
@pytest.mark.parametrize("path", _leaf_commands(), ids=" ".join)
def test_every_help_shows_examples_that_parse(path, capsys) -> None:
    import shlex

    from pypush.cli.examples import EXAMPLES
    from pypush.cli.main import build_parser

    with pytest.raises(SystemExit):
        build_parser(path[0]).parse_args([*path, "--help"])
    shown = capsys.readouterr().out
    assert "examples:\n  pypush " in shown or "examples:\n  echo " in shown, shown
    commands = [shlex.split(line.split("  #")[0].split("|")[-1]) for line in EXAMPLES[" ".join(path)].splitlines()]
    assert any(words[1:1 + len(path)] == list(path) for words in commands)
    for words in commands:  # each a whole command (serve's shows a push to it too)
        assert words[0] == "pypush", words
        args, unknown = build_parser(words[1]).parse_known_args(words[1:])
        assert not unknown and callable(args.run), words


@pytest.mark.parametrize("argv, meant", [(("pus", "a", "b"), "push"), (("repo", "craete", "x"), "create"),
                                         (("imgaes", "list", "x"), "images")])
def test_a_mistyped_command_names_the_closest(argv, meant, capsys) -> None:
    from pypush.cli.main import main

    assert main(list(argv)) == 2
    assert capsys.readouterr().err.strip().endswith(f"; did you mean {meant}?")
