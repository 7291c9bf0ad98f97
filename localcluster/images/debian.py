"""A Debian rootfs layer with mmdebstrap, from the host's own Debian mirrors.

The host's apt sources give the mirror entries (renamed to the images' suite); the recipe's
accounts are added before any package is installed, its files, script and dirs after.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from localcluster.images.recipe import MMDEBSTRAP_OPTIONS, SUITE, Account, Recipe
from localcluster.progress import StepError, run


def host_codename(os_release: Path = Path("/etc/os-release")) -> str:
    """Return the host's Debian codename, whose mirror entries are reused for the images' suite."""
    for line in os_release.read_text().splitlines():
        key, _, value = line.partition("=")
        if key == "VERSION_CODENAME":
            return value.strip().strip('"')
    raise StepError(f"no VERSION_CODENAME in {os_release}: cannot find the host's Debian mirrors")


def _one_line_entries(text: str) -> Iterator[tuple[str, str, tuple[str, ...]]]:
    """(uri, suite, components) of ``deb`` lines in sources.list format."""
    for raw in text.splitlines():
        words = raw.split("#", 1)[0].split()
        if len(words) > 1 and words[1].startswith("["):  # options: deb [signed-by=… arch=…] uri …
            end = next((i for i, word in enumerate(words) if word.endswith("]")), len(words) - 1)
            words = [words[0], *words[end + 1:]]
        if len(words) >= 4 and words[0] == "deb":
            yield words[1], words[2], tuple(words[3:])


def _deb822_entries(text: str) -> Iterator[tuple[str, str, tuple[str, ...]]]:
    """(uri, suite, components) of ``Types: deb`` stanzas in deb822 ``.sources`` format."""
    for stanza in text.split("\n\n"):
        fields: dict[str, str] = {}
        last = ""
        for line in stanza.splitlines():
            if line.startswith("#") or not line.strip():
                continue
            if line[0].isspace() and last:
                fields[last] += " " + line.strip()
                continue
            last, _, value = line.partition(":")
            last = last.strip().lower()
            fields[last] = value.strip()
        if "deb" not in fields.get("types", "").split() or fields.get("enabled", "yes").lower() == "no":
            continue
        components = tuple(fields.get("components", "").split())
        for uri in fields.get("uris", "").split():
            for suite in fields.get("suites", "").split():
                yield uri, suite, components


def debian_sources(sources: Iterable[tuple[str, str]], codename: str, suite: str = SUITE) -> list[str]:
    """One-line ``deb`` entries for ``suite`` from the host's apt sources (``(file name, text)``).

    Keeps the host's entries for its own release (``codename``, ``-updates``, ``-security``) that
    carry ``main``, renamed to ``suite``; third-party repositories are left out.
    """
    wanted = {codename: suite, f"{codename}-updates": f"{suite}-updates",
              f"{codename}-security": f"{suite}-security"}
    found: list[str] = []
    for name, text in sources:
        entries = _deb822_entries(text) if name.endswith(".sources") else _one_line_entries(text)
        for uri, host_suite, components in entries:
            line = f"deb {uri} {wanted.get(host_suite, '')} main"
            if host_suite in wanted and "main" in components and line not in found:
                found.append(line)
    return found


def host_sources(apt_dir: Path = Path("/etc/apt")) -> list[str]:
    """Return the Debian mirror entries for mmdebstrap, taken from this machine's apt sources."""
    files = [apt_dir / "sources.list", *sorted((apt_dir / "sources.list.d").glob("*.list")),
             *sorted((apt_dir / "sources.list.d").glob("*.sources"))]
    found = debian_sources(((f.name, f.read_text()) for f in files if f.is_file()), host_codename())
    if not found:
        raise StepError(f"no Debian 'main' entries for the host's release in {apt_dir}: cannot build images")
    return found


def accounts_script(accounts: Sequence[Account]) -> str:
    """Shell run after the essential packages: add accounts with fixed ids before any postinst."""
    lines = ['set -eu', 'root="$1"']
    for a in accounts:
        lines += [
            f"if grep -q -e '^{a.name}:' -e '^[^:]*:[^:]*:{a.uid}:' \"$root/etc/passwd\" \"$root/etc/group\"; then"
            f" echo 'account {a.name} or id {a.uid} already taken' >&2; exit 1; fi",
            f"echo '{a.name}:x:{a.uid}:{a.uid}::{a.home}:{a.shell}' >> \"$root/etc/passwd\"",
            f"echo '{a.name}:x:{a.uid}:' >> \"$root/etc/group\"",
            f"if [ -e \"$root/etc/shadow\" ]; then echo '{a.name}:*:::::::' >> \"$root/etc/shadow\"; fi",
            f"if [ -e \"$root/etc/gshadow\" ]; then echo '{a.name}:!::' >> \"$root/etc/gshadow\"; fi",
        ]
    return "\n".join(lines) + "\n"


def customize_script(recipe: Recipe, overlay: Path) -> str:
    """Shell run on the finished rootfs: add files, run the recipe script, set dirs, clean up."""
    lines = ["set -eu", 'root="$1"']
    if recipe.files:
        lines.append(f'cp -a {shlex.quote(str(overlay))}/. "$root/"')
    if recipe.script:
        lines.append(f'chroot "$root" /bin/sh -euc {shlex.quote(recipe.script)}')
    lines.append('find "$root/run" -mindepth 1 -maxdepth 1 ! -name lock -exec rm -rf --one-file-system {} +')
    for d in recipe.dirs:
        target = shlex.quote(d.path.lstrip("/"))
        lines.append(f'mkdir -p "$root/"{target} && chown {d.owner}:{d.owner} "$root/"{target}'
                     f' && chmod {d.mode:o} "$root/"{target}')
    lines += [
        # mmdebstrap copies the host's identity and resolver into the rootfs; the runtime provides them.
        'rm -f "$root/etc/hostname" "$root/etc/resolv.conf"',
        "printf '127.0.0.1\\tlocalhost\\n::1\\tlocalhost ip6-localhost ip6-loopback\\n' > \"$root/etc/hosts\"",
        'rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/log/apt/*',
        'rm -f "$root"/var/log/dpkg.log "$root"/var/log/alternatives.log "$root"/var/cache/debconf/*-old',
    ]
    return "\n".join(lines) + "\n"


def mmdebstrap_argv(recipe: Recipe, *, work: Path, out: Path, sources: Sequence[str]) -> list[str]:
    """Return the mmdebstrap command for a recipe whose hook scripts are in ``work``."""
    argv = ["mmdebstrap", *MMDEBSTRAP_OPTIONS]
    if recipe.accounts:
        argv.append(f'--essential-hook=sh {shlex.quote(str(work / "accounts.sh"))} "$1"')
    argv.append(f'--customize-hook=sh {shlex.quote(str(work / "customize.sh"))} "$1"')
    argv += [f"--include={','.join(recipe.packages)}", SUITE, str(out), *sources]
    return argv


def debian_layer(recipe: Recipe, *, work: Path, overlay: Path, out: Path, log: Path) -> None:
    """Build the rootfs tar with mmdebstrap from the host's Debian mirrors."""
    (work / "accounts.sh").write_text(accounts_script(recipe.accounts))
    (work / "customize.sh").write_text(customize_script(recipe, overlay))
    argv = mmdebstrap_argv(recipe, work=work, out=out, sources=host_sources())
    env = {**os.environ, "TMPDIR": str(work)}
    run(argv, log=log, step=f"{recipe.name}: mmdebstrap", env=env)
