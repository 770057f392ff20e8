from pathlib import Path

import pytest

from recommender.importers import import_movielens
from recommender.records import CLICK, VIEW
from shared.errors import DataError
from tests.conftest import SHARED_DATA

MOVIES = """movieId,title,genres
10,Harbour Lights (1987),Drama|Romance
11,"Robots, Again (2003)",Animation|Sci-Fi
12,Nameless Film,(no genres listed)
"""
RATINGS = """userId,movieId,rating,timestamp
1,10,4.0,1000
1,11,3.5,1010
2,12,5,1020
"""
TAGS = """userId,movieId,tag,timestamp
1,11,clever,900
2,11,Clever,901
2,11,dystopia,902
2,10,sea,903
"""


def write_folder(root: Path, ratings: str = RATINGS, tags: str | None = TAGS) -> Path:
    (root / "movies.csv").write_text(MOVIES)
    (root / "ratings_train.csv").write_text(ratings)
    if tags is not None:
        (root / "tags_train.csv").write_text(tags)
    return root


def test_items_carry_title_genres_and_tags_and_ratings_become_clicks_or_views(tmp_path):
    result = import_movielens(write_folder(tmp_path))
    items = {i.id: i for i in result.items}
    assert items["11"].title == "Robots, Again (2003)"
    assert items["11"].categories == ("Animation", "Sci-Fi")
    # Case-insensitively equal tags count together, the most used first.
    assert items["11"].text == "Genres: Animation, Sci-Fi. Tags: clever, dystopia."
    assert items["12"].categories == () and items["12"].text == ""
    assert items["10"].timestamp == 536457600.0  # 1987-01-01 UTC, from the title
    assert items["12"].timestamp is None
    assert [(f.user, f.item, f.type, f.value, f.timestamp) for f in result.feedback] == [
        ("1", "10", CLICK, 4.0, 1000.0), ("1", "11", VIEW, 3.5, 1010.0), ("2", "12", CLICK, 5.0, 1020.0)]
    assert [r.imported for r in result.reports] == [3, 4, 3]


def test_the_threshold_decides_what_is_a_click(tmp_path):
    result = import_movielens(write_folder(tmp_path), threshold=3.5)
    assert [f.type for f in result.feedback] == [CLICK, CLICK, CLICK]


def test_explicit_files_keep_a_held_out_period_out(tmp_path):
    folder = write_folder(tmp_path)
    (folder / "ratings_test.csv").write_text("userId,movieId,rating,timestamp\n1,12,1.0,2000\n")
    assert len(import_movielens(folder).feedback) == 4  # every ratings*.csv by default
    result = import_movielens(folder, ratings=[folder / "ratings_train.csv"], tags=[])
    assert len(result.feedback) == 3
    assert "Tags" not in {i.id: i for i in result.items}["11"].text


BAD_RATINGS = """userId,movieId,rating,timestamp
1,10,4.0,1000
1,999,4.0,1000
1,11,lots,1000
,11,4.0,1000
1,11,4.0
1,11,4.0,1000,extra
"""


def test_bad_rows_are_counted_by_reason_not_dropped_silently(tmp_path):
    result = import_movielens(write_folder(tmp_path, BAD_RATINGS, tags=None))
    report = result.reports[-1]
    assert (report.rows_read, report.imported) == (6, 1)
    assert report.skipped == {"unknown item": 1, "bad rating": 1, "missing field": 2, "wrong number of fields": 1}
    assert "ratings_train.csv: row 3: unknown item (999)" in report.examples[0]
    assert "6 rows read, 1 imported, 5 skipped" in result.summary()
    assert report.as_dict()["skipped"]["missing field"] == 2 and len(report.as_dict()["examples"]) == 5


def test_strict_mode_stops_at_the_first_bad_row_and_names_it(tmp_path):
    with pytest.raises(DataError, match=r"ratings_train.csv: row 3: unknown item \(999\)"):
        import_movielens(write_folder(tmp_path, BAD_RATINGS, tags=None), strict=True)


def test_duplicate_movies_and_missing_files(tmp_path):
    (tmp_path / "movies.csv").write_text("movieId,title,genres\n1,A (2000),Drama\n1,B (2001),Drama\n")
    result = import_movielens(tmp_path)
    assert [i.title for i in result.items] == ["A (2000)"]
    assert result.reports[0].skipped == {"duplicate item id": 1}
    with pytest.raises(DataError, match="no such directory"):
        import_movielens(tmp_path / "absent")
    with pytest.raises(DataError, match="no such file"):
        import_movielens(tmp_path, ratings=[tmp_path / "ratings_absent.csv"])


SHARED_MOVIELENS = SHARED_DATA / "movielens_latest_small"


@pytest.mark.skipif(not (SHARED_MOVIELENS / "movies.csv").is_file(), reason="MovieLens copy not present")
def test_the_shared_movielens_copy_imports_without_a_skip():
    result = import_movielens(SHARED_MOVIELENS, ratings=[SHARED_MOVIELENS / "ratings_validation.csv"], tags=[], strict=True)
    assert len(result.items) == 9742 and len(result.feedback) == 8072
