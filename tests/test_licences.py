"""The licences: the code's (MIT) and the text's (CC BY 4.0) are files in the repository, the package
metadata names the code's, and the book's footer and the README name both the same way."""

from __future__ import annotations

import hashlib
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CODE, TEXT = ROOT / "LICENSE", ROOT / "LICENSE-TEXT"
# LICENSE-TEXT is SPDX's text of CC-BY-4.0 (License List 3.28.0, as shipped in npm's spdx-license-list
# 6.12.0, spdx-full.json) plus a final newline: a licence is never edited, so its bytes are pinned.
TEXT_SHA256 = "d557539df68e771cc1eedcc91d13f70fca930e508d11eedcafa4b15db49e3744"


def test_both_licence_files_exist_and_are_what_they_say():
    code = CODE.read_text(encoding="utf-8")
    assert code.startswith("MIT License\n\nCopyright (c) 2026 The embedlab authors\n")
    assert "Permission is hereby granted, free of charge" in code and "<year>" not in code
    text = TEXT.read_bytes()
    assert hashlib.sha256(text).hexdigest() == TEXT_SHA256, "LICENSE-TEXT must stay the verbatim legal code"
    assert text.decode("utf-8").startswith("Creative Commons Attribution 4.0 International\n")
    assert "Creative Commons Attribution 4.0 International Public License" in text.decode("utf-8")


def test_the_package_metadata_names_the_code_licence():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT"
    assert project["license-files"] == ["LICENSE"]
    assert all((ROOT / f).is_file() for f in project["license-files"])


def test_footer_and_readme_name_both_licences_consistently():
    config = (ROOT / "_config.yml").read_text(encoding="utf-8")
    footer = re.search(r"^  extra_footer: \|\n((?:    .*\n)+)", config, flags=re.M).group(1)
    assert re.search(r"Code MIT-licensed \(LICENSE\); text CC BY 4\.0 \(LICENSE-TEXT\)\.", footer), footer
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    licence = readme.split("## Licence", 1)[1].split("\n## ", 1)[0]
    assert "MIT, in [`LICENSE`](LICENSE)" in licence
    assert "(CC BY 4.0), in [`LICENSE-TEXT`](LICENSE-TEXT)" in licence
    for name in ("MIT", "CC BY 4.0"):  # one licence each for code and text, named alike everywhere
        assert name in footer and name in licence
