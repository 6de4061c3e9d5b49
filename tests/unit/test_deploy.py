"""Issue 28: the deployment recipes under deploy/ checked without their engines (make
fleet-check runs the container image for real): the Kubernetes manifests against the
Kubernetes schemas with kubernetes-validate (offline: its schemas ship with it, and the
socket is shut for the check), the manifests' parts fitting each other and the image, and
the Containerfile's and compose file's static facts."""

from __future__ import annotations

import re
import shlex
import socket
from pathlib import Path
from typing import Any

import pytest
import yaml

from watchdog_runtime.cli.main import build_parser

REPO = Path(__file__).resolve().parents[2]
KUBE = REPO / "deploy" / "kubernetes"
CONTAINERFILE = REPO / "deploy" / "container" / "Containerfile"
K8S_VERSION = "1.30"
"""The oldest Kubernetes release the manifests are checked against (still in support)."""


def manifests() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(KUBE.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            found[doc["kind"]] = doc
    return found


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any connection attempt fails the check: kubernetes-validate must need no network."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("kubernetes-validate tried to open a network connection")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


def test_manifests_validate_against_the_kubernetes_schemas(offline: None) -> None:
    import kubernetes_validate

    kinds = manifests()
    assert {"StatefulSet", "ConfigMap", "Secret", "Service", "PodMonitor"} <= set(kinds)
    for doc in kinds.values():
        if doc["apiVersion"].startswith("monitoring.coreos.com/"):
            continue  # a CRD: no Kubernetes schema (checked against the pod below)
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_a_broken_manifest_is_refused(offline: None) -> None:
    """The check can fail: a misspelt probe key is an error under strict validation."""
    import kubernetes_validate

    doc = manifests()["StatefulSet"]
    container = doc["spec"]["template"]["spec"]["containers"][0]
    container["livenessProbe"]["httpGett"] = container["livenessProbe"].pop("httpGet")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def _container(kinds: dict[str, dict[str, Any]]) -> dict[str, Any]:
    containers: list[dict[str, Any]] = kinds["StatefulSet"]["spec"]["template"]["spec"]["containers"]
    return containers[0]


def test_probes_are_livez_livez_readyz_on_the_metrics_port() -> None:
    c = _container(manifests())
    paths = {p: c[p]["httpGet"]["path"] for p in ("startupProbe", "livenessProbe", "readinessProbe")}
    assert paths == {"startupProbe": "/livez", "livenessProbe": "/livez", "readinessProbe": "/readyz"}
    assert {c[p]["httpGet"]["port"] for p in paths} == {"metrics"}
    assert c["startupProbe"]["periodSeconds"] * c["startupProbe"]["failureThreshold"] >= 300
    assert "--metrics" in c["args"] and c["args"][c["args"].index("--metrics") + 1].endswith(":9464")


def test_the_parts_fit_each_other() -> None:
    """Service, PodMonitor, ConfigMap, Secret and claim are the ones the pod uses."""
    kinds = manifests()
    sts, c = kinds["StatefulSet"], _container(kinds)
    pod_labels = sts["spec"]["template"]["metadata"]["labels"]
    assert kinds["Service"]["spec"]["selector"] == pod_labels == sts["spec"]["selector"]["matchLabels"]
    assert kinds["PodMonitor"]["spec"]["selector"]["matchLabels"] == pod_labels
    ports = {p["name"] for p in c["ports"]}
    assert {e["port"] for e in kinds["PodMonitor"]["spec"]["podMetricsEndpoints"]} <= ports
    assert {p["targetPort"] for p in kinds["Service"]["spec"]["ports"]} <= ports
    volumes = {v["name"]: v for v in sts["spec"]["template"]["spec"]["volumes"]}
    assert volumes["up"]["configMap"]["name"] == kinds["ConfigMap"]["metadata"]["name"]
    assert volumes["store-key"]["secret"]["secretName"] == kinds["Secret"]["metadata"]["name"]
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    up = c["args"][c["args"].index("--up") + 1]
    assert {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}} in c["env"]
    first_pod = f"{sts['metadata']['name']}-0"  # the up-file of the first ordinal is there
    assert Path(up).parent.as_posix() == mounts["up"]
    assert Path(up.replace("$(POD_NAME)", first_pod)).name in kinds["ConfigMap"]["data"]
    assert [t["metadata"]["name"] for t in sts["spec"]["volumeClaimTemplates"]] == ["home"]
    env = {e["name"]: e.get("value") for e in c["env"] if "value" in e}
    assert env["WDBOT_HOME"] == mounts["home"]
    assert sts["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == 10001


def _instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", CONTAINERFILE.read_text())
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    return [(ln.split(None, 1)[0].upper(), ln.split(None, 1)[1]) for ln in lines]


def test_containerfile_runs_wdbot_daemon_as_pid1_non_root() -> None:
    ins = _instructions()
    last = {k: v for k, v in ins}
    assert last["ENTRYPOINT"] == '["wdbot", "daemon"]'
    assert last["USER"] not in ("root", "0")
    volumes = last["VOLUME"]
    assert "/var/lib/wdbot" in volumes and "/var/cache/uv" in volumes
    env = " ".join(v for k, v in ins if k == "ENV")
    assert "WDBOT_HOME=/var/lib/wdbot" in env and "UV_CACHE_DIR=/var/cache/uv" in env
    assert "/livez" in last["HEALTHCHECK"]
    labels = " ".join(v for k, v in ins if k == "LABEL")
    for key in ("title", "description", "version", "licenses", "source"):
        assert f"org.opencontainers.image.{key}=" in labels


def test_containerfile_command_is_one_the_real_cli_takes() -> None:
    """The CMD's options are ``wdbot daemon``'s (a renamed option fails here, not in a pod)."""
    import json

    cmd = json.loads(dict(_instructions())["CMD"])
    assert "--tee-logs" in cmd and cmd[cmd.index("--up") + 1].startswith("/bots/")
    ns = build_parser().parse_args(["daemon", *cmd])
    assert ns.tee_logs and ns.up


def test_containerfile_copies_only_what_exists() -> None:
    for kind, value in _instructions():
        if kind == "COPY":
            for source in shlex.split(value)[:-1]:
                assert (REPO / source).exists(), source


def test_compose_file_uses_the_containerfile_and_volumes() -> None:
    compose = yaml.safe_load((CONTAINERFILE.parent / "compose.yaml").read_text())
    service = compose["services"]["wdbot"]
    build = service["build"]
    assert (CONTAINERFILE.parent / build["context"] / build["dockerfile"]).resolve() == CONTAINERFILE
    targets = {v.split(":")[1] for v in service["volumes"]}
    assert {"/var/lib/wdbot", "/var/cache/uv", "/bots"} <= targets
    assert set(compose["volumes"]) == {v.split(":")[0] for v in service["volumes"] if not v.startswith(".")}
    assert int(service["stop_grace_period"].rstrip("s")) >= 30
