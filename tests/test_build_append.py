"""`pypush append` / `pypush mutate` / `pypush.build`: layers added on a base, config changed, pushed through
the same engine; pulled back by skopeo and unpacked by umoci."""
from __future__ import annotations

import gzip
import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

from conftest import FIXTURES, oci_blob_path, run_pypush
from pullcheck import oci_top_digest, pull_and_check

MULTIARCH = "oci:fixtures/multiarch.oci:1"


def app_dir(root: Path) -> Path:
    """A directory with nested folders, an executable script and a symlink (made private: mode 0700)."""
    src = root / "app-src"
    (src / "lib" / "deep" / "er").mkdir(parents=True)
    (src / "lib" / "deep" / "er" / "data.txt").write_text("nested\n")
    (src / "bin").mkdir()
    (src / "bin" / "run.sh").write_text("#!/bin/sh\necho hello\n")
    (src / "bin" / "run.sh").chmod(0o755)
    (src / "README").write_text("readme\n")
    (src / "README").chmod(0o600)
    os.symlink("bin/run.sh", src / "run")
    src.chmod(0o700)
    return src


def base_manifests(layout: Path) -> dict:
    """arch -> manifest document of the multi-platform fixture."""
    index = json.loads(oci_blob_path(layout, oci_top_digest(layout)).read_text())
    return {m["platform"]["architecture"]: json.loads(oci_blob_path(layout, m["digest"]).read_text())
            for m in index["manifests"]}


def append_json(*args: str) -> dict:
    proc = run_pypush("append", "--format", "json", *args)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_append_multi_platform_pulled_back_and_unpacked(tmp_path, docker_registry, skopeo):
    skopeo.run("copy", "-q", "--all", "--dest-tls-verify=false", f"{MULTIARCH}", f"docker://{docker_registry.host}/base:1")
    src = app_dir(tmp_path)
    base_ref = f"{docker_registry.host}/base:1"
    args = ["--base", f"docker://{base_ref}", "--layer", f"{src}:/opt/app", "--entrypoint", '["/opt/app/bin/run.sh"]',
            "--env", "MODE=prod", "--env", "PATH=/opt/app/bin:/usr/bin", "--label", "org.example.team=build",
            "--expose", "8080", "--annotation", "org.example.note=hi"]
    result = append_json(*args, f"{docker_registry.host}/app:1")
    assert result["blobs_mounted"] == 2  # the base layers: mounted from the base's repository, never downloaded
    got = pull_and_check(skopeo, f"{docker_registry.host}/app:1", tmp_path / "check", result["digest"])
    assert len(got["configs"]) == 2

    index = json.loads(skopeo.inspect_raw(f"{docker_registry.host}/app:1"))
    assert index["mediaType"] == "application/vnd.oci.image.index.v1+json"
    assert index["annotations"]["org.opencontainers.image.base.digest"] == oci_top_digest(FIXTURES / "multiarch.oci")
    assert index["annotations"]["org.opencontainers.image.base.name"] == base_ref
    base = base_manifests(FIXTURES / "multiarch.oci")
    for arch in ("amd64", "arm64"):
        layout = tmp_path / "pulled"
        skopeo.run("copy", "-q", "--src-tls-verify=false", f"--override-arch={arch}",
                   f"docker://{docker_registry.host}/app:1", f"oci:{layout}:{arch}")
        manifest = json.loads(oci_blob_path(layout, oci_top_digest(layout, arch)).read_text())
        assert [l["digest"] for l in manifest["layers"][:-1]] == [l["digest"] for l in base[arch]["layers"]]
        assert manifest["layers"][-1]["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip"
        assert manifest["annotations"]["org.example.note"] == "hi"
        config = json.loads(oci_blob_path(layout, manifest["config"]["digest"]).read_text())
        assert config["architecture"] == arch
        assert config["config"]["Entrypoint"] == ["/opt/app/bin/run.sh"]
        assert "MODE=prod" in config["config"]["Env"] and "PATH=/opt/app/bin:/usr/bin" in config["config"]["Env"]
        assert config["config"]["Labels"]["org.example.team"] == "build"
        assert config["config"]["ExposedPorts"] == {"8080/tcp": {}}
        assert config["history"][-1]["created_by"] == "pypush: /opt/app"

        rootfs = tmp_path / f"rootfs-{arch}"
        subprocess.run(["umoci", "raw", "unpack", "--rootless", "--image", f"{layout}:{arch}", str(rootfs)],
                       check=True, capture_output=True, timeout=120)
        app = rootfs / "opt" / "app"
        assert (app / "lib" / "deep" / "er" / "data.txt").read_text() == "nested\n"
        assert stat.S_IMODE((app / "bin" / "run.sh").stat().st_mode) == 0o755
        assert stat.S_IMODE((app / "README").stat().st_mode) == 0o600
        assert stat.S_IMODE(app.stat().st_mode) == 0o755  # not the private 0700 of the build directory
        assert os.readlink(app / "run") == "bin/run.sh"
        assert arch in (app / "arch.txt").read_text()  # the base's own file for this platform, under the new ones

    again = append_json(*args, f"{docker_registry.host}/app:2")
    assert again["digest"] == result["digest"]  # same inputs, same image
    assert again["blobs_pushed"] == 0 and again["bytes_pushed"] == 0


def test_append_registry_base_into_local_endpoint_through_ecr_api(tmp_path, endpoint, docker_registry, skopeo):
    skopeo.run("copy", "-q", "--dest-tls-verify=false", "oci:fixtures/small.oci:1",
               f"docker://{docker_registry.host}/small:1")
    base = ["--base", f"docker://{docker_registry.host}/small:1"]
    ecr = ["--endpoint-url", endpoint.url, "--create-repository"]
    script = tmp_path / "serve.py"
    script.write_text("print('hi')\n")
    first = append_json(*base, "--layer", f"{script}:/srv", "--cmd", "python3 /srv/serve.py", "--workdir", "/srv",
                        "--user", "1000", "public.ecr.aws/local/web:1", *ecr)
    assert first["blobs_pushed"] == 5  # the endpoint lacked the base: its 3 layers streamed from the registry
    pull_and_check(skopeo, f"{endpoint.host_port}/web:1", tmp_path / "pulled", first["digest"])
    manifest = json.loads(skopeo.inspect_raw(f"{endpoint.host_port}/web:1"))
    config = json.loads(skopeo.run("inspect", "--config", "--raw", "--tls-verify=false",
                                   f"docker://{endpoint.host_port}/web:1").stdout)
    assert config["config"]["Cmd"] == ["python3", "/srv/serve.py"]
    assert (config["config"]["WorkingDir"], config["config"]["User"]) == ("/srv", "1000")
    assert manifest["annotations"]["org.opencontainers.image.base.digest"] == oci_top_digest(FIXTURES / "small.oci")
    assert manifest["annotations"]["org.opencontainers.image.base.name"] == f"{docker_registry.host}/small:1"

    script.write_text("print('hi again')\n")
    second = append_json(*base, "--layer", f"{script}:/srv", "public.ecr.aws/local/web:2", *ecr)
    assert (second["blobs_skipped"], second["blobs_pushed"]) == (3, 2)  # only the new layer and config move
    assert second["bytes_pushed"] < 10_000


def test_mutate_alone_changes_only_the_config(tmp_path, docker_registry, skopeo):
    proc = run_pypush("mutate", "oci:fixtures/docker-list.oci:1", f"{docker_registry.host}/m:1", "--format", "json",
                      "--platform", "linux/arm64", "--label", "stage=final", "--entrypoint", "/bin/sh -c",
                      "--base-name", "docker.io/example/base:1")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    manifest = json.loads(skopeo.inspect_raw(f"{docker_registry.host}/m:1"))
    assert manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"  # one platform: no index
    base = base_manifests(FIXTURES / "multiarch.oci")["arm64"]
    assert [l["digest"] for l in manifest["layers"]] == [l["digest"] for l in base["layers"]]
    assert manifest["annotations"]["org.opencontainers.image.base.name"] == "docker.io/example/base:1"
    config = json.loads(skopeo.run("inspect", "--config", "--raw", "--tls-verify=false",
                                   f"docker://{docker_registry.host}/m:1").stdout)
    assert config["config"]["Labels"] == {"stage": "final"} and config["config"]["Entrypoint"] == ["/bin/sh", "-c"]
    assert "Cmd" not in config["config"]
    assert len(config["history"]) == len(json.loads(
        oci_blob_path(FIXTURES / "multiarch.oci", base["config"]["digest"]).read_text())["history"])
    assert result["digest"] == "sha256:" + __import__("hashlib").sha256(skopeo.inspect_raw(
        f"{docker_registry.host}/m:1")).hexdigest()


@pytest.mark.parametrize("args,code,message", [
    (["--layer", "/nonexistent/dir"], 3, "no such file"),
    (["--layer", "{tmp}:/../etc"], 2, "escapes the image root"),
    (["--layer", "{tmp}", "--platform", "linux/s390x"], 2, "no image for platform linux/s390x"),
    (["--layer", "{tmp}", "--base-override", "oci:fixtures/artifact.oci:1"], 3, "not an image but an artifact"),
    (["--layer", "{tmp}", "--env", "NOVALUE"], 2, "want KEY=VALUE"),
    (["--layer", "{tmp}", "--platform", "linux/arm64", "--base-override", "oci:fixtures/small.oci:1"], 2,
     "linux/amd64, not linux/arm64"),
    (["--layer", "{cut}"], 3, "cut.tar.gz: not valid gzip data"),  # the message names the tarball
])
def test_bad_input_is_refused_before_contacting_the_destination(tmp_path, args, code, message):
    if "{cut}" in args:
        (tmp_path / "cut.tar.gz").write_bytes(gzip.compress(b"\0" * 10240)[:30])
    args = [a.replace("{tmp}", str(tmp_path)).replace("{cut}", str(tmp_path / "cut.tar.gz")) for a in args]
    base = MULTIARCH
    if "--base-override" in args:
        i = args.index("--base-override")
        base = args[i + 1]
        del args[i:i + 2]
    proc = run_pypush("append", "--base", base, *args, "127.0.0.1:9/nowhere:1")  # nothing listens: exit 6 if asked
    assert proc.returncode == code, proc.stderr
    assert message in proc.stderr


def test_python_api_writes_a_layout_that_push_sends_byte_exact(tmp_path, docker_registry):
    import pypush

    src = app_dir(tmp_path)
    with pypush.append("oci:fixtures/small.oci:1", layers=[src, {"/etc/app.conf": b"level = 3\n"}],
                       entrypoint=["/run"], env={"A": "1"}, labels={"k": "v"}) as image:
        written = image.write(f"oci:{tmp_path / 'out'}:1")
    layout = tmp_path / "out"
    assert oci_top_digest(layout) == written.digest
    result = pypush.push(f"oci:{layout}:1", f"{docker_registry.host}/api:1", insecure=True)
    assert result.digest == written.digest
