import pytest

from recommender.importers import import_mind
from recommender.records import CLICK
from shared.errors import DataError

# An original sample in MIND's layout (8 news fields, 5 behaviour fields, tab-separated).
NEWS = "\n".join([
    "N1\tsports\tcycling\tLocal club wins the \"hill\" race\tA small club took first place.\thttps://example.org/1\t[]\t[]",
    "N2\tfood\trecipes\tThree soups for a cold week\t\thttps://example.org/2\t[]\t[]",
    "N3\tweather\tforecast\tStorm expected on the coast\tWinds up to 90 km/h.\thttps://example.org/3\t[]\t[]",
    "N4\tsports\ttennis\tA long final ends after midnight\tFive sets.\thttps://example.org/4\t[]\t[]",
]) + "\n"
BEHAVIORS = "\n".join([
    "1\tU1\t11/11/2019 9:05:58 AM\tN1 N2\tN3-0 N4-1",
    "2\tU2\t11/11/2019 10:00:00 PM\t\tN1-1 N2-0 N3-1",
    "3\tU1\t11/12/2019 8:00:00 AM\tN1 N2\tN2-0 N3-0",
]) + "\n"


def write(tmp_path, news=NEWS, behaviors=BEHAVIORS):
    (tmp_path / "news.tsv").write_text(news)
    (tmp_path / "behaviors.tsv").write_text(behaviors)
    return tmp_path


def test_news_become_items_and_behaviours_become_impressions_and_clicks(tmp_path):
    result = import_mind(write(tmp_path))
    items = {i.id: i for i in result.items}
    assert items["N1"].title == 'Local club wins the "hill" race'  # bare quotes survive
    assert items["N1"].categories == ("sports", "cycling")
    assert items["N2"].document == "Three soups for a cold week"
    first = result.impressions[0]
    assert (first.id, first.user, first.shown, first.labels) == ("1", "U1", ("N3", "N4"), (0, 1))
    assert first.timestamp == 1573463158.0  # 2019-11-11 09:05:58 UTC
    assert result.impressions[1].timestamp - result.impressions[0].timestamp == 12 * 3600 + 54 * 60 + 2  # PM is PM
    clicks = [(f.user, f.item, f.timestamp) for f in result.feedback]
    # U1's history once, one second apart just before the first impression, then the logged clicks.
    assert clicks == [("U1", "N1", first.timestamp - 2), ("U1", "N2", first.timestamp - 1),
                      ("U1", "N4", first.timestamp), ("U2", "N1", result.impressions[1].timestamp),
                      ("U2", "N3", result.impressions[1].timestamp)]
    assert all(f.type == CLICK for f in result.feedback)


BAD_BEHAVIORS = "\n".join([
    "1\tU1\t11/11/2019 9:05:58 AM\tN1\tN3-0 N4-1",
    "2\tU2\t2019-11-11\t\tN1-1",
    "3\tU2\t11/11/2019 9:05:58 AM\t\tN1-2",
    "4\tU2\t11/11/2019 9:05:58 AM\tN9\tN1-1",
    "5\tU2\t11/11/2019 9:05:58 AM\t",
    "6\t\t11/11/2019 9:05:58 AM\t\tN1-1",
]) + "\n"


def test_bad_behaviour_rows_are_counted_by_reason(tmp_path):
    result = import_mind(write(tmp_path, behaviors=BAD_BEHAVIORS))
    report = result.reports[1]
    assert (report.rows_read, report.imported) == (6, 1)
    assert report.skipped == {"bad timestamp": 1, "bad impression": 1, "unknown item": 1, "wrong number of fields": 1, "missing field": 1}
    with pytest.raises(DataError, match="behaviors.tsv: line 2: bad timestamp"):
        import_mind(write(tmp_path, behaviors=BAD_BEHAVIORS), strict=True)


def test_bad_news_rows_are_counted_and_strict_mode_names_them(tmp_path):
    news = NEWS + "N5\tsports\tgolf\n" + "N1\tx\ty\tDuplicate\t\t\t[]\t[]\n" + "N6\tx\ty\t\t\t\t[]\t[]\n"
    result = import_mind(write(tmp_path, news=news))
    assert result.reports[0].skipped == {"wrong number of fields": 1, "duplicate item id": 1, "missing field": 1}
    with pytest.raises(DataError, match=r"news.tsv: line 5: wrong number of fields \(3 instead of 8\)"):
        import_mind(write(tmp_path, news=news), strict=True)


def test_a_missing_file_is_an_error(tmp_path):
    (tmp_path / "news.tsv").write_text(NEWS)
    with pytest.raises(DataError, match="behaviors.tsv: no such file"):
        import_mind(tmp_path)
