"""The docs hold up: every in-page link lands on a heading, docs/auth.md creates the Secrets the
manifests reference (before anything mounts or sends them, in every platform's section on its own),
and the README's "curl your own job" command gets children from sync."""

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import requests
import yaml

from mpifn import manifests
from tests.conftest import EXAMPLES, ROOT

AUTH = ROOT / "docs" / "auth.md"


def documents() -> list[Path]:
    readmes = [p for p in sorted(ROOT.glob("*/**/README.md")) if not p.relative_to(ROOT).parts[0].startswith(".")]
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *readmes]  # not .venv's packages


def without_code(text: str) -> str:
    """The Markdown outside fenced code blocks (a `# comment` in a shell block is no heading)."""
    return re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped (not - or _), spaces as -."""
    text = re.sub(r"[`*]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(document: Path) -> set[str]:
    seen: dict[str, int] = {}
    found = set()
    for heading in re.findall(r"^#{1,6} (.+)$", without_code(document.read_text()), flags=re.M):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def test_the_slug_is_githubs():
    assert slug("Why a job is stuck or failed: the status") == "why-a-job-is-stuck-or-failed-the-status"
    assert slug("Try it with curl (after `make run`)") == "try-it-with-curl-after-make-run"
    assert slug("2a. OpenFaaS (Community Edition or Pro)") == "2a-openfaas-community-edition-or-pro"
    assert slug("One file per install: release manifests (`make dist`)") == (
        "one-file-per-install-release-manifests-make-dist"
    )


def test_every_anchor_link_of_the_docs_lands_on_a_heading():
    checked = 0
    for document in documents():
        for target, anchor in re.findall(r"\]\(([^)#\s]*)#([^)\s]+)\)", without_code(document.read_text())):
            if target.startswith(("http://", "https://")):
                continue
            linked = (document.parent / target).resolve() if target else document
            where = f"{document.relative_to(ROOT)}: link to {target}#{anchor}"
            assert linked.is_file(), where
            assert anchor in anchors(linked), where
            checked += 1
    assert checked >= 10  # the README's install steps link each other


def test_the_readme_installs_in_dependency_order():
    steps = [h for h in re.findall(r"^### (.+)$", without_code((ROOT / "README.md").read_text()), flags=re.M)]
    numbered = [h for h in steps if re.match(r"\d\. ", h)]
    assert [h.split(".")[0] for h in numbered] == ["1", "2", "3", "4"], numbered
    assert [h.split(". ", 1)[1].split(":")[0].split(" ")[0] for h in numbered] == [
        "Metacontroller",
        "A",  # a function platform
        "Images",
        "mpifn",
    ], numbered


# --------------------------------------------------------------------------- docs/auth.md


def sections(text: str) -> dict[str, str]:
    """Heading (## or ###) -> the shell of its sh blocks, joined, backslash-continued lines joined."""
    found: dict[str, str] = {}
    parts = re.split(r"^#{2,3} (.+)$", text, flags=re.M)
    for heading, body in zip(parts[1::2], parts[2::2], strict=True):
        shell = "\n".join(re.findall(r"^```sh\n(.*?)^```", body, flags=re.M | re.S))
        found[heading] = shell.replace("\\\n", " ")
    return found


def commands(shell: str) -> list[list[str]]:
    """Each line as words, comments dropped; the parts of a pipeline as separate commands."""
    found = []
    for line in shell.splitlines():
        words = shlex.split(line, comments=True)
        while words:
            cut = words.index("|") if "|" in words else len(words)
            if words[:cut]:
                found.append(words[:cut])
            words = words[cut + 1 :]
    return found


def kubectl_secrets(shell: str) -> list[tuple[str, str, tuple[str, ...]]]:
    """(namespace, name, keys) of each `kubectl -n NS create secret generic NAME --from-literal=K=V`."""
    made = []
    for words in commands(shell):
        if words[:1] == ["kubectl"] and "secret" in words and "generic" in words:
            namespace = words[words.index("-n") + 1]
            name = words[words.index("generic") + 1]
            keys = tuple(w.split("=", 2)[1] for w in words if w.startswith("--from-literal="))
            made.append((namespace, name, keys))
    return made


def position(shell: str, pattern: str) -> int:
    match = re.search(pattern, shell)
    assert match, pattern
    return match.start()


def assert_values_made_here(shell: str, heading: str) -> None:
    """Every $VARIABLE a section uses is set earlier in the same section: none silently comes
    from another platform's section."""
    for use in re.finditer(r"\$\{?(\w+)", shell):
        name = use.group(1)
        setting = re.search(rf"(^|\s){name}=", shell)
        assert setting and setting.start() < use.start(), f"{heading}: ${name} used before it is set here"


def test_auth_md_has_one_runnable_section_per_platform():
    found = sections(AUTH.read_text())
    platforms = [h for h in found if h.startswith(("OpenFaaS", "Knative", "Plain"))]
    assert [h.split(" ")[0] for h in platforms] == ["OpenFaaS", "Knative", "Plain"]
    for heading in platforms:
        assert_values_made_here(found[heading], heading)


def test_auth_md_creates_the_openfaas_secrets_the_stack_and_the_controllers_reference():
    shell = sections(AUTH.read_text())["OpenFaaS (Community Edition or Pro)"]
    created = [words[3] for words in commands(shell) if words[:3] == ["faas-cli", "secret", "create"]]
    stack = yaml.safe_load((ROOT / "stack.auth.yml").read_text())
    mounted = {name for function in stack["functions"].values() for name in function.get("secrets", [])}
    assert set(created) == mounted == {manifests.OPENFAAS_TOKEN.name, manifests.PROBE_KEY.name}
    # faas-cli puts a secret in the functions' namespace, under one key named like the secret.
    token = manifests.OPENFAAS_TOKEN
    assert (token.namespace, token.key) == ("openfaas-fn", token.name)
    component = yaml.safe_load((ROOT / "deploy" / "components" / token.component / "kustomization.yaml").read_text())
    assert all(token.reference() == json.loads(p["patch"][2:])["value"] for p in component["patches"])
    kustomization = yaml.safe_load((ROOT / "deploy" / "openfaas-auth" / "kustomization.yaml").read_text())
    assert f"../components/{token.component}" in kustomization["components"]
    made = max(position(shell, rf"secret create {name}\b") for name in created)
    assert made < position(shell, r"faas-cli deploy -f stack\.auth\.yml") < position(shell, "deploy/openfaas-auth/")


def test_auth_md_creates_the_knative_and_plain_secrets_the_manifests_reference():
    found = sections(AUTH.read_text())
    token, key = manifests.TOKEN, manifests.PROBE_KEY
    expected = [
        (token.namespace, token.name, (token.key,)),
        (manifests.FUNCTIONS_NAMESPACE, key.name, (key.key,)),
    ]
    # What the auth Component mounts and names, in the generated manifests.
    component = manifests.auth_component(token, manifests.FUNCTION_WORKLOADS)
    patches = "\n".join(patch["patch"] for patch in component["patches"])
    for secret in (token.name, key.name):
        assert f'"secretName": "{secret}"' in patches
    assert f"{manifests.TOKEN_MOUNT_DIR}/{token.key}" in patches
    assert f"{manifests.PROBE_KEY_MOUNT_DIR}/{key.key}" in patches
    for heading, variant in (("Knative", "knative-auth"), ("Plain Deployments", "plain-auth")):
        shell = found[heading]
        assert kubectl_secrets(shell) == expected, heading
        kustomization = yaml.safe_load((ROOT / "deploy" / variant / "kustomization.yaml").read_text())
        assert f"../components/{token.component}" in kustomization["components"]
        namespace = position(shell, rf"create namespace {manifests.FUNCTIONS_NAMESPACE}\b")
        secrets = [position(shell, rf"create secret generic {name}\b") for _, name, _ in expected]
        applied = position(shell, rf"DEPLOY=deploy/{variant}\b")
        assert namespace < min(secrets) and max(secrets) < applied < position(shell, r"kubectl apply -k overlay/")


def test_auth_md_rotates_the_probe_key_under_the_names_the_functions_read():
    found = sections(AUTH.read_text())
    rotation = found["Rotating the probe key"]
    key = manifests.PROBE_KEY
    assert set(kubectl_secrets(rotation)) >= {
        (manifests.FUNCTIONS_NAMESPACE, key.name, (key.key, key.previous)),
        (manifests.FUNCTIONS_NAMESPACE, key.name, (key.key,)),
    }
    sync = yaml.safe_load((ROOT / "stack.auth.yml").read_text())["functions"]["sync"]["environment"]
    files = (Path(sync["MPIFN_PROBE_KEY_FILE"]).name, Path(sync["MPIFN_PREVIOUS_PROBE_KEY_FILE"]).name)
    assert set(kubectl_secrets(rotation)) >= {("openfaas-fn", key.name, files), ("openfaas-fn", key.name, files[:1])}
    rotating_token = found["Rotating the bearer token"]
    token = manifests.TOKEN
    assert kubectl_secrets(rotating_token) == [(token.namespace, token.name, (token.key,))]
    assert f"faas-cli secret update {manifests.OPENFAAS_TOKEN.name} " in rotating_token
    for heading in ("Rotating the bearer token", "Rotating the probe key"):
        assert_values_made_here(found[heading], heading)


# --------------------------------------------------------------------------- README: curl your own job


def readme_section(title: str) -> str:
    return sections((ROOT / "README.md").read_text())[title]


def test_the_readmes_own_job_command_gets_the_children_from_sync(server):
    shell = readme_section("curl your own job")
    (wrap,) = [words for words in commands(shell) if words[:2] == ["python3", "-c"]]
    job = yaml.safe_load((EXAMPLES / "hello.yaml").read_text())
    job["metadata"]["name"] = "mine"
    request = subprocess.run(
        [sys.executable, *wrap[1:]], input=yaml.safe_dump(job), capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert json.loads(request) == {"parent": job, "children": {}}
    posts = [words for words in commands(shell) if words[:1] == ["curl"]]
    assert len(posts) == 2 and posts[0] == posts[1]  # the file's form and the jq form
    post = posts[0]
    assert post[post.index("--data-binary") + 1] == "@-"
    assert post[-1] == "http://127.0.0.1:8080/function/sync"  # make run's default address
    headers = dict(h.split(": ", 1) for h in (post[i + 1] for i, w in enumerate(post) if w == "-H"))
    answer = requests.post(server.url("sync"), data=request.encode(), headers=headers, timeout=10)
    assert answer.status_code == 200
    assert sorted(c["kind"] for c in answer.json()["children"]) == [
        "ConfigMap",
        "Job",
        "Secret",
        "Service",
        "StatefulSet",
    ]
    assert {c["metadata"]["name"] for c in answer.json()["children"]} >= {"mine-worker", "mine-launcher"}
    # The jq form wraps the same way.
    assert "jq '{parent: ., children: {}}'" in shell


def test_a_bare_mpijob_is_400_as_the_readme_says(server):
    job = yaml.safe_load((EXAMPLES / "hello.yaml").read_text())
    answer = requests.post(server.url("sync"), json=job, timeout=10)
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert answer.status_code == 400
    assert f"A bare MPIJob gets HTTP 400, `{answer.json()['error']}`" in readme
