"""The classic nginx example: names, the hostname page, and a server that runs without root."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from apps import nginx
from conftest import Render
from policy.render import Rendering


def pod(rendering: Rendering) -> Mapping[str, Any]:
    spec: Mapping[str, Any] = rendering.named("StatefulSet", "web-demo").spec["template"]["spec"]
    return spec


def test_the_example_keeps_the_tutorial_shape(rendered: Render) -> None:
    rendering = rendered()
    statefulset = rendering.named("StatefulSet", "web-demo")
    assert statefulset.metadata["namespace"] == "demo"
    assert statefulset.spec["replicas"] == 2
    assert statefulset.spec["volumeClaimTemplates"][0]["metadata"]["name"] == "www"
    assert rendering.named("Service", "nginx-demo").spec["ports"] == [{"name": "web", "port": 80, "targetPort": "web"}]


def test_nginx_listens_on_port_80_named_web(rendered: Render) -> None:
    assert pod(rendered())["containers"][0]["ports"] == [{"name": "web", "containerPort": 80}]


def test_the_pod_may_bind_port_80_without_root(rendered: Render) -> None:
    sysctls = pod(rendered())["securityContext"]["sysctls"]
    assert sysctls == [{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}]


def test_nginx_runs_as_uid_101_by_default(rendered: Render) -> None:
    assert pod(rendered())["securityContext"]["runAsUser"] == 101


def test_the_config_keeps_pid_and_temp_files_in_tmp() -> None:
    conf = nginx.nginx_conf()
    assert "pid /tmp/nginx.pid;" in conf
    for directive in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        assert f"{directive}_temp_path /tmp/" in conf
    assert "listen 80;" in conf
    assert "root /usr/share/nginx/html;" in conf


def test_nginx_runs_its_own_config_in_the_foreground(rendered: Render) -> None:
    container = pod(rendered())["containers"][0]
    assert container["command"] == [
        "nginx",
        "-c",
        "/etc/nginx-stateful/nginx.conf",
        "-e",
        "stderr",
        "-g",
        "daemon off;",
    ]
    mounts = {mount["mountPath"]: mount for mount in container["volumeMounts"]}
    assert mounts["/etc/nginx-stateful"]["readOnly"] is True
    assert mounts["/usr/share/nginx/html"]["name"] == "www"


def test_an_init_container_of_the_same_image_writes_the_hostname_page(rendered: Render) -> None:
    spec = pod(rendered())
    init = spec["initContainers"][0]
    assert init["image"] == spec["containers"][0]["image"]
    assert init["command"] == ["sh", "-c", nginx.index_script()]
    assert {mount["mountPath"] for mount in init["volumeMounts"]} >= {"/usr/share/nginx/html"}


def test_the_page_names_the_hostname_and_is_written_only_once(tmp_path: Path) -> None:
    script = nginx.index_script().replace(nginx.DOCUMENT_ROOT, str(tmp_path))
    subprocess.run(["sh", "-c", script], check=True)
    hostname = Path("/proc/sys/kernel/hostname").read_text().strip()
    assert (tmp_path / "index.html").read_text().strip() == hostname
    (tmp_path / "index.html").write_text("kept\n")
    subprocess.run(["sh", "-c", script], check=True)
    assert (tmp_path / "index.html").read_text() == "kept\n"


def test_every_probe_gets_the_page(rendered: Render) -> None:
    container = pod(rendered())["containers"][0]
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert container[probe]["httpGet"] == {"path": "/", "port": "web"}
