"""tools/offline_assets.py: local copies when npm works, CDN shims (with a note) when it does not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tools import offline_assets as oa

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def vendor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the tool at an empty vendor folder."""
    folder = tmp_path / "vendor"
    monkeypatch.setattr(oa, "VENDOR", folder)
    monkeypatch.setattr(oa, "MANIFEST", folder / "MANIFEST.json")
    monkeypatch.setattr(oa, "WIDGETS_SETUP", folder / "embedlab" / "widgets-setup.js")
    return folder


def test_without_npm_every_library_becomes_a_cdn_shim(vendor, monkeypatch, capsys):
    monkeypatch.setattr(oa.shutil, "which", lambda name: None)
    manifest = oa.ensure_assets()
    err = capsys.readouterr().err
    assert sorted(oa.cdn_fallbacks(manifest)) == sorted(a.spec for a in oa.ASSETS)
    for asset in oa.ASSETS:
        assert manifest[asset.name]["source"] == "cdn-fallback"
        shim = (vendor / asset.name / asset.entry).read_text()
        assert asset.cdn_url in shim
        assert f"NOTE: could not install {asset.spec} (npm is not installed" in err
    mathjax = next(a for a in oa.ASSETS if a.name == "mathjax")
    assert mathjax.cdn_url == "https://cdn.jsdelivr.net/npm/mathjax@3.2.2/es5/tex-mml-chtml.js"
    setup = oa.WIDGETS_SETUP.read_text()
    assert '"https://cdn.jsdelivr.net/npm/@jupyter-widgets/html-manager@1.0.15"' in setup


def test_a_failing_registry_falls_back_too(vendor, monkeypatch, capsys):
    def refuse(asset, workdir):
        raise RuntimeError("`npm pack` failed: E404")

    monkeypatch.setattr(oa, "npm_fetch", refuse)
    oa.ensure_assets()
    assert "E404" in capsys.readouterr().err
    assert len(oa.cdn_fallbacks()) == len(oa.ASSETS)


def test_installed_assets_are_not_fetched_again(vendor, monkeypatch):
    """A second run is a no-op (make book runs the tool every time)."""
    def fake_fetch(asset, workdir):
        pkg = workdir / "unpacked"
        for pattern in asset.keep:
            name = pattern.replace("*", "x")
            target = pkg / asset.root / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if "." in Path(name).name:
                target.write_text(f"// {asset.spec}")
            else:
                target.mkdir()
        return pkg

    monkeypatch.setattr(oa, "npm_fetch", fake_fetch)
    manifest = oa.ensure_assets()
    assert oa.cdn_fallbacks(manifest) == []
    assert '"../jupyter-widgets/html-manager"' in oa.WIDGETS_SETUP.read_text()

    def must_not_fetch(asset, workdir):
        raise AssertionError(f"fetched {asset.spec} again")

    monkeypatch.setattr(oa, "npm_fetch", must_not_fetch)
    assert oa.ensure_assets() == manifest
    assert json.loads((vendor / "MANIFEST.json").read_text()) == manifest


def test_config_points_at_the_installed_files():
    """_config.yml loads exactly the entry files the tool installs (and its glue script)."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())["sphinx"]["config"]
    assert config["html_static_path"] == ["book/_static"]
    assert oa.VENDOR == ROOT / "book" / "_static" / "vendor"
    entries = {f"vendor/{a.name}/{a.entry}" for a in oa.ASSETS}
    widgets = list(config["nb_ipywidgets_js"])
    setup = "vendor/" + oa.WIDGETS_SETUP.relative_to(oa.VENDOR).as_posix()
    assert widgets == [
        "vendor/requirejs/require.js",
        setup,
        "vendor/jupyter-widgets/html-manager/dist/embed-amd.js",
    ], "RequireJS, then the glue, then the manager: the order matters"
    assert {config["mathjax_path"], *widgets} - {setup} == entries


def test_cdn_shims_fetch_the_pinned_files_in_a_browser(vendor, monkeypatch, browser, serve):
    """Where npm failed, a page that loads the shims asks the CDN for exactly the pinned files."""
    import browser_checks as checks

    monkeypatch.setattr(oa.shutil, "which", lambda name: None)
    oa.ensure_assets()
    (vendor.parent / "page.html").write_text(
        "<!DOCTYPE html><html><head><script>window.MathJax = {};</script>\n"
        '<script defer src="vendor/mathjax/tex-mml-chtml.js"></script>\n'
        '<script src="vendor/requirejs/require.js"></script>\n'
        '<script src="vendor/embedlab/widgets-setup.js"></script>\n'
        '<script src="vendor/jupyter-widgets/html-manager/dist/embed-amd.js"></script>\n'
        "</head><body><p>shims</p></body></html>\n"
    )
    with checks.open_page(browser, serve(vendor.parent) + "page.html") as visit:
        requested = set(visit.external_requests)
    assert requested == {a.cdn_url for a in oa.ASSETS}
