"""Go builds in a throwaway *wrapper module*, from the Go module proxy.

The upstream modules use local ``replace`` directives (``=> ../sdk``, ``=> ./staging/...``) that
``go install pkg@version`` refuses, so the wrapper requires the released module and maps every
local replace to the sibling module's released version.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localcluster.progress import StepError, capture, run


def go_env() -> dict[str, str]:
    """Environment for every go command: module mode, local toolchain, static binaries."""
    env = dict(os.environ)
    env.update(GOFLAGS="-mod=mod", GOTOOLCHAIN="local", CGO_ENABLED="0")
    return env


@dataclass(frozen=True)
class Build:
    """What one component's build needs: its work dir, output dir and log."""

    name: str
    work: Path
    out: Path
    log: Path

    def go(self, *args: str, cwd: Path | None = None, extra_env: dict[str, str] | None = None) -> None:
        """Run a go command in the work dir, logged."""
        env = go_env()
        env.update(extra_env or {})
        run(["go", *args], log=self.log, step=f"{self.name}: go {args[0]}", cwd=cwd or self.work, env=env)


def module_info(module: str, version: str) -> dict[str, str]:
    """``go mod download -json`` of one module version (downloads it through the proxy)."""
    out = capture(["go", "mod", "download", "-json", f"{module}@{version}"], env=go_env())
    info: dict[str, str] = json.loads(out)
    if info.get("Error"):
        raise StepError(f"cannot download {module}@{version}: {info['Error']}")
    return info


def gomod(path: str) -> dict[str, Any]:
    """Parse a go.mod file with ``go mod edit -json``."""
    parsed: dict[str, Any] = json.loads(capture(["go", "mod", "edit", "-json", path], env=go_env()))
    return parsed


def write_wrapper(
    b: Build,
    *,
    main: str,
    version: str,
    local_version: Callable[[str], str],
    imports: Sequence[str],
) -> None:
    """Write a wrapper module requiring ``main@version`` with its local replaces mapped to releases."""
    if b.work.exists():
        shutil.rmtree(b.work)
    b.work.mkdir(parents=True)
    upstream = gomod(module_info(main, version)["GoMod"])
    go_line = str(upstream.get("Go") or "1.25.0")
    lines = ["module local/wrapper", "", f"go {go_line}", ""]
    for gd in upstream.get("Godebug") or []:
        lines.append(f"godebug {gd['Key']}={gd['Value']}")
    lines += ["", f"require {main} {version}", ""]
    for rep in upstream.get("Replace") or []:
        old, new = rep["Old"], rep["New"]
        target = str(new["Path"])
        if target.startswith("./FORBIDDEN") or "FORBIDDEN" in target:
            continue
        if target.startswith((".", "/")):
            lines.append(f"replace {old['Path']} => {old['Path']} {local_version(old['Path'])}")
        else:
            left = old["Path"] + (f" {old['Version']}" if old.get("Version") else "")
            lines.append(f"replace {left} => {target} {new['Version']}")
    for ex in upstream.get("Exclude") or []:
        lines.append(f"exclude {ex['Path']} {ex['Version']}")
    (b.work / "go.mod").write_text("\n".join(lines) + "\n")
    body = "\n".join(f'\t_ "{i}"' for i in imports)
    (b.work / "tools.go").write_text(f"//go:build tools\n\npackage tools\n\nimport (\n{body}\n)\n")
    b.go("mod", "tidy")


def go_build(b: Build, packages: Sequence[str], *, ldflags: str = "", tags: str = "") -> None:
    """Build main packages into the component's output dir."""
    args = ["build", "-trimpath", "-o", str(b.out) + "/"]
    if tags:
        args += ["-tags", tags]
    args += ["-ldflags", f"-s -w {ldflags}".strip()]
    b.go(*args, *packages)
