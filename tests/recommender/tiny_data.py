"""Tiny original data for the click model and CLI tests: a made-up film club and a made-up shop.

Films: three genres, four films each; each member loves one genre (ratings 4-5) and rates the
others low (1-2.5), in time order, so the later ratings can be held out. Shop: three product
lines whose buyers move from one item of the line to the next.
"""

from __future__ import annotations

import csv
import json

FILMS = [
    ("1", "Ghost Ship (1990)", "Horror|Thriller"), ("2", "Night Howl (1992)", "Horror"),
    ("3", "The Cellar Door (1995)", "Horror|Mystery"), ("4", "Last Scream (1999)", "Horror"),
    ("5", "Sunny Side Up (1991)", "Comedy"), ("6", "Wedding Mix-Up (1994)", "Comedy|Romance"),
    ("7", "Two Left Feet (1996)", "Comedy"), ("8", "The Prank Club (2000)", "Comedy"),
    ("9", "Star Harbour (1993)", "Sci-Fi|Adventure"), ("10", "Orbit Nine (1997)", "Sci-Fi"),
    ("11", "Android Dawn (1998)", "Sci-Fi|Drama"), ("12", "Comet Run (2001)", "Sci-Fi|Action"),
]
GENRE_FILMS = {"Horror": ["1", "2", "3", "4"], "Comedy": ["5", "6", "7", "8"], "Sci-Fi": ["9", "10", "11", "12"]}
MEMBERS = {f"u{k}": genre for k, genre in enumerate(["Horror", "Comedy", "Sci-Fi"] * 3, start=1)}


def ratings() -> list[tuple[str, str, float, int]]:
    """(user, film, rating, time): each member rates every film, genres taking turns, the loved genre high."""
    rows = []
    for k, (user, genre) in enumerate(MEMBERS.items()):
        interleaved = [films[i] for i in range(4) for films in GENRE_FILMS.values()]  # 1, 5, 9, 2, 6, 10, ...
        order = interleaved if k % 2 == 0 else interleaved[::-1]
        for step, film in enumerate(order):
            loved = film in GENRE_FILMS[genre]
            rating = (5.0 if (step + k) % 2 else 4.0) if loved else (1.0 if (step + k) % 3 else 2.5)
            rows.append((user, film, rating, 1_000_000 + 1000 * k + 10 * step))
    return rows


def write_movielens(folder, *, test_share: int = 3):
    """movies.csv, tags.csv, ratings_train.csv and ratings_test.csv (each member's last ``test_share`` ratings)."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "movies.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["movieId", "title", "genres"])
        w.writerows(FILMS)
    with open(folder / "tags.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["userId", "movieId", "tag", "timestamp"])
        w.writerows([["u1", "1", "creepy", 1], ["u2", "5", "feel-good", 2], ["u3", "9", "space", 3]])
    by_user: dict[str, list] = {}
    for row in ratings():
        by_user.setdefault(row[0], []).append(row)
    for name, part in (("ratings_train.csv", slice(None, -test_share)), ("ratings_test.csv", slice(-test_share, None))):
        with open(folder / name, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["userId", "movieId", "rating", "timestamp"])
            for rows in by_user.values():
                w.writerows(rows[part])
    return folder


PRODUCTS = {
    "0": ("Blue Ink Pen", "Smooth blue ink pen for the office."), "1": ("Blue Ink Refill", "Refill cartridge for blue ink pens."),
    "2": ("Pen Case", "A leather case that holds four pens."), "3": ("Lab Goggles", "Safety goggles for the laboratory."),
    "4": ("Nitrile Gloves", "Disposable gloves for lab safety."), "5": ("Lab Coat", "White cotton coat for laboratory work."),
    "6": ("Desk Stapler", "Heavy duty stapler for paper stacks."), "7": ("Staples Box", "A box of 5000 standard staples."),
    "8": ("Staple Remover", "Removes staples without tearing paper."), "9": ("Sticky Notes", "Yellow notes that stick anywhere."),
}
LINES = [["0", "1", "2"], ["3", "4", "5"], ["6", "7", "8"]]
HEADER = ["user_id", "history_item_title", "item_title", "history_item_id", "item_id", "history_item_sid", "item_sid"]


def write_amazon(folder, *, users: int = 18, test_users: int = 6):
    """items.json, train.csv and test.csv: each buyer walks one product line (sometimes via the notes)."""
    folder.mkdir(parents=True, exist_ok=True)
    items = {k: {"title": t, "description": f"['{d}']", "brand": "", "categories": ""} for k, (t, d) in PRODUCTS.items()}
    (folder / "items.json").write_text(json.dumps(items))
    rows = []
    for u in range(users):
        line = LINES[u % 3]
        sequence = ["9", *line] if u % 4 == 0 else line
        for step in range(1, len(sequence)):
            history = sequence[:step]
            rows.append([f"A{u}", str([PRODUCTS[h][0] for h in history]), PRODUCTS[sequence[step]][0], str([int(h) for h in history]),
                         sequence[step], "s", "t"])
    cut = len(rows) - test_users * 2
    for name, part in (("train.csv", rows[:cut]), ("test.csv", rows[cut:])):
        with open(folder / name, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(HEADER)
            w.writerows(part)
    return folder / "items.json", folder / "train.csv", folder / "test.csv"
