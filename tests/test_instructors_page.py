"""book/instructors.md's tables are generated from the chapters and kept current."""

from tools import chapters as ch
from tools import instructors_page as page


def test_the_instructors_page_is_current():
    stored = page.PAGE.read_text(encoding="utf-8")
    assert stored == page.page_text(stored), "book/instructors.md is stale: run `python -m tools.instructors_page`"


def test_every_chapter_has_objectives_and_a_checked_exercise_in_the_table():
    section = page.section()
    for path in ch.chapter_paths():
        nb = ch.read_nb(path)
        goals = page.objectives(nb)
        assert len(goals) >= 3 and all(g and "\n" not in g for g in goals), path.name
        assert f"../chapters/{path.stem}.ipynb" in section and goals[0] in section
        assert page.checked_exercises(nb), f"{path.name}: no checked exercise named in its exercise text"
    assert "footcite" not in section  # the page has no footnote bibliography: citations become {cite}
    assert section.count("| Part ") == 5
