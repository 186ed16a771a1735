"""Copy Netron's web assets from the installed ``netron`` package into ``static/netron`` and
neutralise the three stock behaviours that do not suit an offline classroom server.

Stages:
  1. copy the web files (html/js/css/json/png/ico) of the pip package next to the app's static folder;
  2. patch them, failing loudly if a patch no longer applies (a new Netron release must be re-checked):
     * version meta -> 0.0.0: Netron then treats itself as unpackaged and never starts telemetry
       (Google Analytics beacons) — and we also disable the telemetry branch itself;
     * the cookie-consent step returns at once: no dialog, and no ip-lookup request to ipinfo.io;
     * the "please update" lock 180 days after the build date is removed;
     * the page's Content-Security-Policy gains ``connect-src 'self' data: blob:`` so the browser itself
       refuses any request that would leave this server.
  3. write a stamp with the netron version so the copy is redone after an upgrade.
No streamlit here: ``make run`` calls this as a script, the page helper calls :func:`ensure_netron`.
"""

from __future__ import annotations

import shutil
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "static" / "netron"
SUFFIXES = {".html", ".js", ".css", ".json", ".png", ".ico"}

PATCHES = {
    "index.html": [
        ('<meta name="version" content="{version}">', '<meta name="version" content="0.0.0">'),
        (
            "script-src 'self'; frame-src 'none'",
            "script-src 'self'; frame-src 'none'; connect-src 'self' data: blob:",
        ),
    ],
    "browser.js": [
        ("if (days > 180) {", "if (false && days > 180) { // AI System Lab: no update lock"),
        (
            "if (this._getCookie('consent') || this._getCookie('_ga')) {",
            "if (true) { // AI System Lab: no consent dialog, no ip lookup",
        ),
        ("'https://ipinfo.io/json'", "'about:blank'"),
        ("if (this._environment.packaged) {", "if (false) { // AI System Lab: no telemetry"),
    ],
}


class NetronAssetsError(RuntimeError):
    pass


def _source_dir() -> Path:
    import netron  # the pip package; only its files are used

    return Path(netron.__file__).resolve().parent


def _stamp() -> str:
    return f"netron {metadata.version('netron')} patched v1"


def ensure_netron() -> Path:
    """Make sure the patched copy exists; return its folder."""
    stamp = TARGET / ".stamp"
    if stamp.exists() and stamp.read_text() == _stamp():
        return TARGET
    src = _source_dir()
    tmp = TARGET.with_name("netron.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for path in src.iterdir():
        if path.suffix in SUFFIXES and path.is_file():
            shutil.copyfile(path, tmp / path.name)
    version = metadata.version("netron")
    for name, patches in PATCHES.items():
        text = (tmp / name).read_text(encoding="utf-8")
        for old, new in patches:
            old = old.replace("{version}", version)
            if old not in text:
                raise NetronAssetsError(f"netron {version}: cannot patch {name}: {old!r} not found")
            text = text.replace(old, new)
        (tmp / name).write_text(text, encoding="utf-8")
    (tmp / "models").mkdir()
    (tmp / ".stamp").write_text(_stamp())
    shutil.rmtree(TARGET, ignore_errors=True)
    tmp.rename(TARGET)
    return TARGET


if __name__ == "__main__":
    print(f"Netron assets ready in {ensure_netron()}")
