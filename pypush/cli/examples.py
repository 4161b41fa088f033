"""One example or two for every command's ``--help`` (its argparse epilog)."""
from __future__ import annotations

import argparse
from typing import Any, Dict

EXAMPLES: Dict[str, str] = {
    "push": "pypush push ./image.tar public.ecr.aws/ALIAS/app:1 --create-repository\n"
            "pypush push oci:./layout:1 registry.example.com:5000/team/app:1 -t latest",
    "copy": "pypush copy docker://docker.io/library/alpine:3.20 public.ecr.aws/ALIAS/alpine:3.20\n"
            "pypush copy --all-tags docker://127.0.0.1:5000/app 127.0.0.1:5001/app",
    "pull": "pypush pull docker://public.ecr.aws/docker/library/busybox:1.36 ./busybox     # a layout directory\n"
            "pypush pull docker://127.0.0.1:5000/app:1 ./app.tar                           # an OCI archive",
    "append": "pypush append --base docker://python:3.12-slim --layer ./src:/app --cmd 'python /app/main.py' "
              "oci:./out:1",
    "mutate": "pypush mutate oci:./layout:1 public.ecr.aws/ALIAS/app:2 --env MODE=prod --label team=web",
    "build": "pypush build . oci:./out:1 --platform linux/amd64 --platform linux/arm64\n"
             "pypush build ./myproject public.ecr.aws/ALIAS/app:1 --base oci:./python-base --lock pylock.toml",
    "serve": "pypush serve --port 5000 --data ./ecr-data\n"
             "pypush push ./image.tar public.ecr.aws/local/app:1 --endpoint-url http://127.0.0.1:5000 "
             "--create-repository",
    "demo": "pypush demo",
    "repo create": "pypush repo create app --description 'My app' --architecture x86-64 --os Linux",
    "repo delete": "pypush repo delete app --force",
    "repo list": "pypush repo list --format json",
    "repo describe": "pypush repo describe public.ecr.aws/ALIAS/app",
    "images list": "pypush images list app",
    "images delete": "pypush images delete app:old app@sha256:0123…",
    "tags list": "pypush tags list public.ecr.aws/ALIAS/app",
    "policy get": "pypush policy get app",
    "policy set": "pypush policy set app policy.json\n"
                  "pypush policy set app deny-all.json --force     # a policy that locks you out",
    "policy delete": "pypush policy delete app",
    "catalog get": "pypush catalog get app --logo-out logo.png\n"
                   "pypush catalog get --registry",
    "catalog set": "pypush catalog set app --description 'My app' --about ABOUT.md --logo logo.png\n"
                   "pypush catalog set --registry --display-name 'My team'",
    "resource-tags list": "pypush resource-tags list app",
    "resource-tags add": "pypush resource-tags add app team=web cost-center=42",
    "resource-tags remove": "pypush resource-tags remove app cost-center",
    "registries": "pypush registries",
    "login": "echo \"$PASSWORD\" | pypush login registry.example.com:5000 -u alice --password-stdin\n"
             "pypush login 123456789012.dkr.ecr.us-east-1.amazonaws.com     # with AWS credentials\n"
             "pypush login 127.0.0.1:5000 --endpoint-url http://127.0.0.1:5000     # pypush serve's registry\n"
             "pypush login --endpoint-url http://127.0.0.1:5000     # print the ECR Public password",
    "premium create": "pypush premium create app --product prod-abc123 --description 'My paid app'",
    "premium list": "pypush premium list --format json",
    "premium describe": "pypush premium describe app",
    "premium delete": "pypush premium delete app",
    "premium state": "pypush premium state app available",
    "premium products": "pypush premium products app\n"
                        "pypush premium products app prod-abc123 prod-def456     # replace the list",
    "premium catalog get": "pypush premium catalog get app",
    "premium catalog put": "pypush premium catalog put app --description 'My paid app' --category DATABASES",
    "premium policy get": "pypush premium policy get app",
    "premium policy set": "pypush premium policy set app policy.json",
    "premium policy delete": "pypush premium policy delete app",
    "premium deprecate": "pypush premium deprecate app app:1.0 --days 90",
    "premium reactivate": "pypush premium reactivate app app:1.0",
    "premium associate": "pypush premium associate app --free app",
    "premium disassociate": "pypush premium disassociate app",
    "premium findings": "pypush premium findings app app@sha256:0123…",
    "premium reports list": "pypush premium reports list --type summary --granularity weekly",
    "premium reports download": "pypush premium reports download REPORT_ID -o report.csv.gz",
    "entitled repos": "pypush entitled repos",
    "entitled images": "pypush entitled images publisher/app",
    "entitled tags": "pypush entitled tags publisher/app",
}
"""Command (``repo create``) -> example lines."""


def with_examples(command: str, epilog: str = "") -> Dict[str, Any]:
    """The ``add_parser`` keywords that show ``command``'s examples (and ``epilog`` after them) in its help."""
    lines = "\n".join(f"  {line}" for line in EXAMPLES[command].splitlines())
    return {"epilog": f"examples:\n{lines}" + (f"\n\n{epilog}" if epilog else ""),
            "formatter_class": argparse.RawDescriptionHelpFormatter}
