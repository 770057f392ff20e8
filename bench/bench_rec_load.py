"""Load on the recommender's API: latency and throughput of GET /rec/api/recommend/<user>?n=10 on loopback.

    python bench/bench_rec_load.py [--duration 10] [--connections 1 2 4 8 16] [--threads 4] [--keep DIR]
    python bench/bench_rec_load.py --keep var/bench-rec --profile 200     # also: cProfile of the request path in-process
    python bench/bench_rec_load.py --keep var/bench-rec --soak 600        # memory over a 10-minute soak, 4 connections

Builds a synthetic catalogue, deterministic from --seed: 10,000 items of original made-up text
(titles and one-sentence descriptions combined from a few hundred words and templates, 1-3 of 20
categories, published over two years) and 2,000 users with 5-30 feedback records each (85 %
clicks, 15 % views) drawn from their 1-3 favourite categories, spread over the last year. The
files (items.jsonl, feedback.csv, gorse field names) are imported with `troika rec import` into a
fresh SQLite database in its own var directory; `troika rec serve` (demo off) then embeds the
catalogue once (about a minute on 2 cores) and caches the vectors under that var directory.
``--keep DIR`` keeps the prepared var directory, so a later run with the same --seed, --items and
--users skips the import and the embedding.

Once /health/ready answers, a few requests are sent with urllib to record which X-Troika-Source
the answers carry (known users: content; unknown ones: popular). wrk then drives the endpoint
(X-API-Key, X-API-Version: 2), one run per connection count, closed loop (each connection sends
its next request when the answer comes), cycling through every known user and 5 % unknown
(cold-start) ones. Writes bench/results/rec_load.json and rec_load.md: per run, requests/s,
p50/p90/p99 latency and errors (socket errors + non-2xx), and the highest rate served with zero
errors. ``--profile N`` also builds the same service in this process and profiles N calls of
RecommenderService.recommend (cProfile, top functions printed), with the per-call time of the
service alone and of the whole Flask request (test client, no socket).
Needs wrk (Debian: apt-get install wrk).
"""

from __future__ import annotations

import argparse
import collections
import cProfile
import csv
import datetime as dt
import io
import json
import os
import pstats
import random
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.load import WRK_DONE, add_run_options, drive, free_port, highest_clean_rate, run_table, run_wrk, serving
from bench.machine_info import machine

P99_TARGET_MS = 10.0
N = 10
UNKNOWN_SHARE = 0.05
CLICK_PERIOD_END = dt.datetime(2026, 11, 1, tzinfo=dt.UTC).timestamp()
DAY = 86_400.0

# --- the synthetic catalogue (original text: made-up combinations of these words) ------------------

# One line per category: its nouns / adjectives that suit it.
CATEGORY_WORDS = """
gardening: trowel, seed tray, raised bed, compost bin, pruner, trellis, herb planter, rain barrel, bulb mix, hedge, greenhouse, mulch / leafy, hardy, sun-loving, frost-proof, fragrant
cooking: skillet, stock pot, spice rack, knife roll, dumpling, braise, curry, broth, wok, marinade, pasta dough, stew / slow-cooked, smoky, zesty, one-pan, hearty
cycling: saddle, gravel bike, chain tool, pannier, tyre lever, handlebar bag, hill climb, cadence, touring route, bike light, derailleur, tubeless kit / lightweight, all-weather, rolling, aero, steel-framed
astronomy: telescope, star chart, eyepiece, nebula, meteor shower, moon map, planisphere, comet, tracking mount, red torch, galaxy, eclipse / dark-sky, deep-field, nocturnal, lunar, wide-angle
woodwork: dovetail, chisel set, workbench, spoon blank, hand plane, oak board, lathe, joinery jig, carving knife, birch stool, mallet, tenon saw / hand-cut, oiled, rustic, sturdy, turned
photography: prime lens, tripod, light meter, film roll, darkroom, portrait, street scene, filter kit, camera strap, long exposure, contact sheet, reflector / grainy, high-contrast, candid, monochrome, golden-hour
music: ukulele, metronome, chord book, drum pad, songbook, harmonica, string set, looper pedal, sight reading, practice amp, fiddle tune, capo / acoustic, rhythmic, melodic, bluesy, upbeat
travel: rail pass, day pack, harbour town, night train, phrasebook, hostel, coastal walk, island ferry, packing cube, border crossing, old quarter, market square / off-season, far-flung, sunlit, walkable, unhurried
fitness: kettlebell, resistance band, rowing plan, yoga mat, interval set, skipping rope, mobility drill, pull-up bar, recovery day, stretch routine, foam roller, tempo run / low-impact, sweaty, explosive, steady, core-first
chess: opening, endgame, gambit, pawn chain, rook lift, blitz clock, puzzle book, king hunt, knight tour, fianchetto, tournament board, middlegame / tactical, positional, sharp, quiet, classical
knitting: cable sweater, sock yarn, needle set, cowl, mitten, lace shawl, stitch marker, wool skein, tea cosy, beanie, colourwork yoke, baby blanket / chunky, woolly, hand-dyed, cosy, fine-gauge
birdwatching: binoculars, field guide, bird feeder, nest box, estuary hide, dawn chorus, wader count, spotting scope, owl walk, migration log, garden robin, heron colony / feathered, early-morning, marshland, patient, migratory
pottery: wheel, glaze, kiln, clay body, tea bowl, slip trailing, trimming tool, stoneware jug, raku firing, planter pot, coil pot, bisque / earthy, glazed, wheel-thrown, speckled, hand-built
sailing: dinghy, mooring line, tide table, sail bag, bowline, life jacket, chart plotter, reef point, harbour chart, tiller, spinnaker, anchor / windward, salty, coastal, sheltered, gusty
climbing: chalk bag, belay device, bouldering mat, quickdraw, crag guide, rope bag, fingerboard, slab route, overhang, harness, approach shoe, crux move / vertical, crimpy, exposed, bold, granite
baking: sourdough, bread tin, proving basket, croissant, rye loaf, pie crust, scone, piping bag, bench scraper, starter jar, flatbread, layer cake / crusty, buttery, airy, golden, wholegrain
coffee: pour-over, burr grinder, espresso shot, milk jug, cold brew, roast profile, moka pot, tasting note, filter paper, single origin, latte art, scale / bright, nutty, dark-roasted, fruity, velvety
aquariums: planted tank, filter sponge, shrimp colony, driftwood, water test, betta, aquascape, heater, moss wall, tetra shoal, gravel vac, snail / freshwater, tropical, shimmering, lush, nano
painting: watercolour pad, oil sketch, palette knife, easel, gouache set, still life, landscape study, brush roll, colour wheel, plein air, canvas board, glazing layer / loose, vivid, layered, muted, expressive
camping: tent, sleeping mat, camp stove, tarp shelter, lantern, dry bag, trail map, bivvy, fire steel, water filter, hammock, wild camp / ultralight, waterproof, weekend, remote, starlit
"""
CATEGORIES = {name: tuple([w.strip() for w in part.split(',')] for part in words.split('/'))
              for name, words in (line.split(':', 1) for line in CATEGORY_WORDS.strip().splitlines())}
SHARED_ADJECTIVES = ["simple", "patient", "clever", "weekend", "complete", "pocket", "beginner's", "seasoned", "compact",
                     "practical", "gentle", "quick", "long-lasting", "small-batch", "handy", "classic", "modern",
                     "thoughtful", "trusty", "curious"]
KINDS = ["guide", "kit", "workshop", "handbook", "course", "set", "field notes", "starter pack", "masterclass",
         "journal", "toolkit", "primer", "collection", "companion"]
AUDIENCES = ["beginners", "families", "night owls", "city dwellers", "returning hobbyists", "small spaces", "rainy days",
             "long winters", "weekend learners", "club members", "solo adventurers", "busy parents"]
VERBS = ["covers", "walks through", "explains", "pairs", "brings together", "revisits", "sorts out", "tests",
         "compares", "maps out", "demystifies", "builds up"]
OUTCOMES = ["without fuss", "one step at a time", "with plain words", "for the first time", "in an afternoon",
            "on a small budget", "with spare parts", "season by season", "from scratch", "with friends"]
SYLLABLES = ["bren", "vik", "ol", "mara", "tal", "ven", "dor", "ilsa", "kor", "ame", "rin", "tho", "sela", "gru",
             "pem", "aro", "lune", "quil", "fen", "zad", "oro", "wyn", "cas", "bel", "nim", "tova", "har", "esk"]
TITLE_TEMPLATES = [
    "The {adj} {noun} {kind}",
    "{Name}'s {noun} {kind}",
    "{Adj} {noun} for {audience}",
    "{Noun} and {noun2}: {a_adj} {kind}",
    "The {Name} {noun}",
    "{Adj} {noun2}, {adj2} {noun}",
]
TEXT_TEMPLATES = [
    "{A_adj} {kind} that {verb} the {noun} and the {noun2} {outcome}.",
    "{Name} {verb} the {adj2} {noun} for {audience}, with a chapter on the {noun2}.",
    "Made for {audience}: {a_adj} {noun} {kind} that {verb} the {adj2} {noun2} {outcome}.",
    "Everything about the {adj} {noun}, from the {noun2} to the {noun3}, {outcome}.",
]


def _name(rng: random.Random) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.choice((2, 2, 3)))).capitalize()


def make_items(n: int, rng: random.Random) -> list[dict]:
    """``n`` items (gorse field names): ItemId, Title, Comment, Categories, Timestamp (ISO, over two years)."""
    names = list(CATEGORIES)
    items = []
    for i in range(n):
        cats = rng.sample(names, rng.choice((1, 1, 2, 2, 3)))
        nouns = [noun for c in cats for noun in CATEGORIES[c][0]]
        main_nouns, main_adjs = CATEGORIES[cats[0]]
        adjs = main_adjs + [a for c in cats[1:] for a in CATEGORIES[c][1]] + SHARED_ADJECTIVES
        words = {"noun": rng.choice(main_nouns), "noun2": rng.choice(nouns), "noun3": rng.choice(nouns),
                 "adj": rng.choice(adjs), "adj2": rng.choice(adjs), "kind": rng.choice(KINDS), "Name": _name(rng),
                 "audience": rng.choice(AUDIENCES), "verb": rng.choice(VERBS), "outcome": rng.choice(OUTCOMES)}
        a_adj = ("an " if words["adj"][0] in "aeiou" else "a ") + words["adj"]
        words |= {"Adj": words["adj"].capitalize(), "Noun": words["noun"].capitalize(), "a_adj": a_adj, "A_adj": a_adj.capitalize()}
        title = rng.choice(TITLE_TEMPLATES).format(**words)
        text = rng.choice(TEXT_TEMPLATES).format(**words)
        when = CLICK_PERIOD_END - 730 * DAY + rng.random() * 700 * DAY
        items.append({"ItemId": f"i{i:05d}", "Title": title, "Comment": text, "Categories": cats,
                      "Timestamp": dt.datetime.fromtimestamp(when, dt.UTC).isoformat(timespec="seconds")})
    return items


def make_feedback(items: list[dict], n_users: int, rng: random.Random) -> list[dict]:
    """5-30 records per user (85 % clicks), 80 % from the user's 1-3 favourite categories, popular items
    (a Zipf-like order within each category) more often; times over the last year, after publication."""
    by_category = collections.defaultdict(list)
    for item in items:
        for c in item["Categories"]:
            by_category[c].append(item)
    for members in by_category.values():
        rng.shuffle(members)  # the popularity order within a category
    weights = {c: list(_cumulative([1 / (rank + 1) ** 0.8 for rank in range(len(m))])) for c, m in by_category.items()}
    published = {item["ItemId"]: dt.datetime.fromisoformat(item["Timestamp"]).timestamp() for item in items}
    rows = []
    for u in range(n_users):
        user = f"u{u:04d}"
        favourites = rng.sample(list(CATEGORIES), rng.choice((1, 2, 2, 3)))
        chosen: dict[str, None] = {}
        wanted = rng.randint(5, 30)
        while len(chosen) < wanted:
            if rng.random() < 0.8:
                c = rng.choice(favourites)
                item = rng.choices(by_category[c], cum_weights=weights[c])[0]
            else:
                item = rng.choice(items)
            chosen[item["ItemId"]] = None
        for item_id in chosen:
            start = max(published[item_id], CLICK_PERIOD_END - 365 * DAY)
            when = start + rng.random() * (CLICK_PERIOD_END - start)
            kind = "click" if rng.random() < 0.85 else "view"
            rows.append({"FeedbackType": kind, "UserId": user, "ItemId": item_id, "Value": 1 if kind == "click" else 0,
                         "Timestamp": dt.datetime.fromtimestamp(when, dt.UTC).isoformat(timespec="seconds")})
    return rows


def _cumulative(values):
    total = 0.0
    for v in values:
        total += v
        yield total


def write_data(folder: Path, items: list[dict], feedback: list[dict]) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    items_path, feedback_path = folder / "items.jsonl", folder / "feedback.csv"
    items_path.write_text("".join(json.dumps(item) + "\n" for item in items))
    with open(feedback_path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["FeedbackType", "UserId", "ItemId", "Timestamp", "Value"])
        writer.writeheader()
        writer.writerows(feedback)
    return items_path, feedback_path


# --- preparing the var directory and the server ----------------------------------------------------

def write_config(folder: Path, api_key: str, threads: int, ranking: str = "content") -> Path:
    """No demo import; no retrain job during the runs (``retrain_every = 0``); a rate limit no run
    reaches, since wrk is one client and the runs measure the server, not the limit."""
    config = folder / "troika.toml"
    config.write_text(f'apps = ["recommender"]\nvar_dir = "{folder / "var"}"\nthreads = {threads}\n'
                      f'[recommender]\napi_key = "{api_key}"\ndemo = false\nretrain_every = 0\nranking = "{ranking}"\n'
                      'rate_limit = "100000/second"\n')
    return config


def ensure_click_model(folder: Path, env: dict) -> dict:
    """A click model active in the prepared var directory: ``troika rec retrain --no-fine-tune`` once
    (the encoder frozen: the load figures are about serving, and the fine-tuned encoder has the
    same size and speed)."""
    marker = folder / "click_model.json"
    if marker.is_file():
        return json.loads(marker.read_text())
    config = write_config(folder, "unused", 1, "click")
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "shared.cli", "--quiet", "rec", "retrain", "--no-fine-tune", "--config", str(config)],
                         cwd=ROOT, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"troika rec retrain failed:\n{out.stdout}{out.stderr}")
    info = {"seconds_retrain": round(time.perf_counter() - start, 1), "retrain_output": out.stdout.strip().splitlines()[-1]}
    print(f"click model trained in {info['seconds_retrain']}s: {info['retrain_output']}", flush=True)
    marker.write_text(json.dumps(info, indent=1) + "\n")
    return info


def prepare(folder: Path, args, env: dict) -> dict:
    """The catalogue imported into ``folder``/var (skipped when ``folder`` already holds the same one)."""
    wanted = {"seed": args.seed, "items": args.items, "users": args.users}
    marker = folder / "prepared.json"
    if marker.is_file() and json.loads(marker.read_text()).get("catalogue") == wanted:
        print(f"reusing the catalogue prepared in {folder}", flush=True)
        return {**json.loads(marker.read_text()), "reused": True}
    if (folder / "var").exists():
        shutil.rmtree(folder / "var")
    start = time.perf_counter()
    rng = random.Random(args.seed)
    items = make_items(args.items, rng)
    feedback = make_feedback(items, args.users, rng)
    items_path, feedback_path = write_data(folder / "data", items, feedback)
    generated = time.perf_counter() - start
    config = write_config(folder, "unused", 1)
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "shared.cli", "--quiet", "rec", "import", "--items", str(items_path),
                          "--feedback", str(feedback_path), "--strict", "--config", str(config)],
                         cwd=ROOT, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"troika rec import failed:\n{out.stdout}{out.stderr}")
    clicks = sum(r["FeedbackType"] == "click" for r in feedback)
    info = {"catalogue": wanted, "feedback": len(feedback), "clicks": clicks, "views": len(feedback) - clicks,
            "seconds_generate": round(generated, 1), "seconds_import": round(time.perf_counter() - start, 1),
            "import_output": out.stdout.strip().splitlines()[-1] if out.stdout.strip() else "",
            "example_item": items[0], "example_feedback": feedback[0], "reused": False}
    print(f"generated {args.items} items, {len(feedback)} feedback records in {generated:.1f}s; "
          f"imported in {info['seconds_import']}s", flush=True)
    return info  # the marker is written once the server has embedded the catalogue (below)


def users_to_request(args, rng: random.Random) -> list[str]:
    """Every known user in a shuffled order, with UNKNOWN_SHARE cold-start users mixed in."""
    known = [f"u{u:04d}" for u in range(args.users)]
    unknown = [f"new{u:04d}" for u in range(max(1, round(args.users * UNKNOWN_SHARE)))]
    users = known + unknown
    rng.shuffle(users)
    return users


WRK_SCRIPT = """
local users = %(users)s
local counter = 0
local headers = {["X-API-Key"] = %(key)s, ["X-API-Version"] = "2"}
local next_thread = 0
setup = function(thread)
  thread:set("offset", next_thread * 7919)
  next_thread = next_thread + 1
end
init = function(args)
  counter = offset or 0
end
request = function()
  counter = counter + 1
  return wrk.format("GET", "/rec/api/recommend/" .. users[(counter %% #users) + 1] .. "?n=%(n)d", headers)
end
"""


def sample_sources(url: str, key: str, users: list[str], count: int = 40) -> dict:
    """X-Troika-Source of a few answers (known and unknown users), and the status codes and a latency."""
    known = [u for u in users if u.startswith("u")][: count - 5]
    unknown = [u for u in users if not u.startswith("u")][:5]
    sources, statuses, millis, example = collections.Counter(), collections.Counter(), [], None
    for user in known + unknown:
        request = urllib.request.Request(f"{url}/rec/api/recommend/{user}?n={N}", headers={"X-API-Key": key, "X-API-Version": "2"})
        start = time.perf_counter()
        with urllib.request.urlopen(request, timeout=10) as response:
            body = json.loads(response.read())
            millis.append((time.perf_counter() - start) * 1000)
            statuses[response.status] += 1
            kind = "known" if user.startswith("u") else "unknown"
            sources[f"{kind}: {response.headers.get('X-Troika-Source')}"] += 1
            if example is None:
                example = {"user": user, "source": response.headers.get("X-Troika-Source"), "answer": body[:3]}
    return {"requests": len(known) + len(unknown), "sources": dict(sources), "statuses": {str(k): v for k, v in statuses.items()},
            "median_ms_urllib": round(statistics.median(millis), 2), "example": example}


# --- the in-process profile ----------------------------------------------------------------------

def profile(folder: Path, users: list[str], calls: int) -> dict:
    """cProfile of ``calls`` RecommenderService.recommend calls over the prepared catalogue, and the
    per-call time of the service alone and of the whole Flask request (test client)."""
    import faiss

    from recommender.plugin import make_plugin
    from shared.config import load_config
    from shared.server import build_app

    faiss.omp_set_num_threads(1)  # as the server does (shared.server.serve)
    config = load_config(folder / "troika.toml", apps=("recommender",))
    plugin = make_plugin(config)
    plugin.prepare()
    service = plugin.state.service
    picked = [users[i % len(users)] for i in range(calls)]
    for user in picked[:20]:
        service.recommend(user, N)  # warm-up
    timings = {}
    for kind in ("known", "unknown"):
        subset = [u for u in picked if u.startswith("u") == (kind == "known")] or picked
        seconds = []
        for user in subset:
            start = time.perf_counter()
            service.recommend(user, N)
            seconds.append((time.perf_counter() - start) * 1000)
        timings[f"service_{kind}_median_ms"] = round(statistics.median(seconds), 3)
        timings[f"service_{kind}_p99_ms"] = round(_percentile(seconds, 99), 3)
    client = build_app(config, [plugin]).test_client()
    headers = {"X-API-Key": config.section("recommender")["api_key"], "X-API-Version": "2"}
    seconds = []
    for user in picked:
        start = time.perf_counter()
        response = client.get(f"/rec/api/recommend/{user}?n={N}", headers=headers)
        seconds.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, response.data
    timings["flask_median_ms"] = round(statistics.median(seconds), 3)
    timings["flask_p99_ms"] = round(_percentile(seconds, 99), 3)
    profiler = cProfile.Profile()
    profiler.enable()
    for user in picked:
        service.recommend(user, N)
    profiler.disable()
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text)
    stats.sort_stats("cumulative").print_stats(25)
    stats.sort_stats("tottime").print_stats(15)
    print(text.getvalue())
    timings["profile_calls"] = calls
    timings["hotspots"] = hotspots(stats, calls)
    print(json.dumps(timings, indent=1))
    plugin.state.shutdown()
    return timings


def hotspots(stats: pstats.Stats, calls: int, top: int = 6) -> list[dict]:
    """The functions with the most time of their own and this project's with the most cumulative time,
    most cumulative first; per request: calls, own and cumulative ms."""
    rows = []
    for (filename, line, name), (_, ncalls, own, cumulative, _) in stats.stats.items():
        where = filename.replace(str(ROOT) + "/", "").split("site-packages/")[-1]
        rows.append({"function": f"{where}:{line}({name})", "calls_per_request": round(ncalls / calls, 2),
                     "own_ms_per_request": round(own * 1000 / calls, 3), "cumulative_ms_per_request": round(cumulative * 1000 / calls, 3)})
    own = sorted(rows, key=lambda r: -r["own_ms_per_request"])[:top]
    ours = sorted((r for r in rows if r["function"].startswith(("recommender/", "shared/"))),
                  key=lambda r: -r["cumulative_ms_per_request"])[:top]
    chosen = {r["function"]: r for r in own + ours}
    return sorted(chosen.values(), key=lambda r: -r["cumulative_ms_per_request"])


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


# --- the report ----------------------------------------------------------------------------------

def write_report(args, info: dict, sources: dict, runs: list[dict], ready_s: float, readiness: str, timings: dict | None) -> None:
    report = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(with_torch=False),
        "command": "python bench/bench_rec_load.py " + " ".join(sys.argv[1:]),
        "setup": {"server": "troika rec serve (waitress)", "server_threads": args.threads, "database": "SQLite file",
                  "model": "what /health/ready said: " + readiness,
                  "load_generator": "wrk, closed loop, loopback", "seconds_per_run": args.duration,
                  "request": f"GET /rec/api/recommend/<user>?n={N} with X-API-Key and X-API-Version: 2",
                  "users_cycled": f"{args.users} known + {max(1, round(args.users * UNKNOWN_SHARE))} unknown (cold-start), shuffled"},
        "catalogue": {"items": args.items, "users": args.users, "seed": args.seed, "categories": len(CATEGORIES),
                      "feedback": info.get("feedback"), "clicks": info.get("clicks"), "views": info.get("views"),
                      "example_item": info.get("example_item"), "example_feedback": info.get("example_feedback")},
        "preparation": {"seconds_generate": info.get("seconds_generate"), "seconds_import": info.get("seconds_import"),
                        "seconds_until_ready_first": info.get("seconds_until_ready_first"),
                        "seconds_until_ready": round(ready_s, 1), "reused": bool(info.get("reused"))},
        "sampled_sources": sources,
        "runs": runs,
        "low_load": runs[0],
        "p99_target_ms": P99_TARGET_MS,
        "p99_at_one_connection_within_target": runs[0]["connections"] == 1 and runs[0]["p99_ms"] <= P99_TARGET_MS,
        "highest_rate_with_zero_errors": highest_clean_rate(runs),
        "highest_rate_with_zero_errors_and_p99_within_target": highest_clean_rate(
            [r for r in runs if r["p99_ms"] <= P99_TARGET_MS]),
    }
    if timings:
        report["in_process"] = timings
    out = ROOT / "bench" / "results"
    report["ranking"] = args.ranking
    report["click_model"] = {k: info[k] for k in ("seconds_retrain", "retrain_output") if k in info}
    (out / f"rec_load_{args.ranking}.json").write_text(json.dumps(report, indent=1) + "\n")
    m = report["machine"]
    ranked_by = {"click": "the click model (candidates from the content model, ranked by click probability)",
                 "content": "the content model alone (cosine)"}[args.ranking]
    lines = [f"# GET /rec/api/recommend under load, ranked by {ranked_by}", "",
             f"Date: {report['date'][:10]}. Machine: {m['cpu']}, {m['cores']} cores, load average {m['load_average_1min']} "
             f"when the report was written. Command: `{report['command'].strip()}`.", ""]
    if args.provisional:
        lines += ["**Provisional**: taken while other work shared the 2 cores (short runs, load generator and server on "
                  "the same loaded machine); to be measured again on a quiet machine.", ""]
    lines += [f"A synthetic catalogue (seed {args.seed}): {args.items:,} items of original made-up text in {len(CATEGORIES)} "
              f"categories, {args.users:,} users with {info.get('feedback', '?'):,} feedback records "
              f"({info.get('clicks', '?'):,} clicks), imported with `troika rec import` into SQLite and served by "
              f"`troika rec serve` (waitress, {args.threads} threads; ready: \"{readiness}\"). "
              f"wrk on loopback, closed loop, {args.duration} s per run, "
              f"`GET /rec/api/recommend/<user>?n={N}` cycling through every known user and "
              f"{int(UNKNOWN_SHARE * 100)} % unknown ones.", "",
              f"Preparation: catalogue generated in {info.get('seconds_generate')} s, imported in {info.get('seconds_import')} s; "
              f"the first start (embedding every item, then cached) was ready in {info.get('seconds_until_ready_first')} s"
              + (f"; this run reused the prepared catalogue (`--keep`) and was ready in {ready_s:.1f} s." if info.get("reused") else "."), "",
              *([f"Click model: trained once on this catalogue with `troika rec retrain --no-fine-tune` in "
                 f"{report['click_model']['seconds_retrain']} s: {report['click_model']['retrain_output']}", ""]
                if report["click_model"] else []),
              f"Sources of {sources['requests']} sampled answers (`X-Troika-Source`): "
              + ", ".join(f"{k} × {v}" for k, v in sorted(sources["sources"].items())) + ".", "",
              *run_table(runs), "",
              f"Highest rate served with zero errors: **{report['highest_rate_with_zero_errors']} requests/s**; "
              f"p99 at {runs[0]['connections']} connection(s): **{runs[0]['p99_ms']:.2f} ms** (target ≤ {P99_TARGET_MS:g} ms: "
              f"{'met' if runs[0]['p99_ms'] <= P99_TARGET_MS else 'not met'}).", ""]
    if timings:
        lines += ["In-process (`--profile`, same catalogue, no socket): RecommenderService.recommend median "
                  f"{timings['service_known_median_ms']:.2f} ms for a known user, {timings['service_unknown_median_ms']:.2f} ms "
                  f"for an unknown one; the whole Flask request (test client) median {timings['flask_median_ms']:.2f} ms. "
                  f"Where the time goes in {timings['profile_calls']} recommend calls (cProfile: the functions with the most own "
                  "time and this project's with the most cumulative time):", "",
                  "| function | calls per request | own ms per request | cumulative ms per request |", "|---|---:|---:|---:|"]
        lines += [f"| `{h['function']}` | {h['calls_per_request']} | {h['own_ms_per_request']:.3f} | {h['cumulative_ms_per_request']:.3f} |"
                  for h in timings["hotspots"]]
        lines += [""]
    (out / f"rec_load_{args.ranking}.md").write_text("\n".join(lines))
    print(f"wrote {out / f'rec_load_{args.ranking}.json'} and .md")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_options(parser)
    parser.add_argument("--items", type=int, default=10_000, help="catalogue size")
    parser.add_argument("--users", type=int, default=2_000, help="users with a feedback history")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic catalogue")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="prepare the catalogue (database and item vectors) in DIR "
                        "and keep it; a later run with the same --seed/--items/--users reuses it")
    parser.add_argument("--profile", type=int, metavar="CALLS", help="after the runs, profile this many recommend calls in-process")
    parser.add_argument("--provisional", action="store_true", help="say in the report that the machine was shared (figures provisional)")
    parser.add_argument("--ranking", choices=("click", "content"), default="click",
                        help="what ranks: the click model (trained once with troika rec retrain, the server's default) "
                             "or the content model alone; results go to rec_load_<ranking>.json/.md")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk)")

    os.environ.pop("TROIKA_RECOMMENDER_API_KEY", None)  # the key written in the config below is the one used
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    with tempfile.TemporaryDirectory(prefix="troika-rec-load-") as tmp:
        folder = args.keep.absolute() if args.keep else Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        info = prepare(folder, args, env)
        key = secrets.token_urlsafe(24)
        if args.ranking == "click":
            info.update(ensure_click_model(folder, env))
        config = write_config(folder, key, args.threads, args.ranking)
        users = users_to_request(args, random.Random(args.seed + 1))
        script = Path(tmp) / "recommend.lua"
        script.write_text(WRK_SCRIPT % {"users": "{" + ", ".join(json.dumps(u) for u in users) + "}",
                                        "key": json.dumps(key), "n": N} + WRK_DONE)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        command = [sys.executable, "-m", "shared.cli", "--quiet", "rec", "serve", "--config", str(config), "--port", str(port)]
        start = time.perf_counter()
        with serving(command, url, folder / "server.log", env, cwd=ROOT, ready_timeout=1800) as server:
            ready_s = time.perf_counter() - start
            with urllib.request.urlopen(url + "/health/ready", timeout=10) as response:
                readiness = json.loads(response.read())["checks"].get("recommender", {}).get("detail", "")
            print(f"server ready in {ready_s:.1f}s: {readiness}", flush=True)
            if not info["reused"]:  # the catalogue is embedded and its vectors cached: reusable from now on
                info["seconds_until_ready_first"] = round(ready_s, 1)
                (folder / "prepared.json").write_text(json.dumps(info, indent=1) + "\n")
            sources = sample_sources(url, key, users)
            print(f"sampled sources: {sources['sources']}; statuses {sources['statuses']}", flush=True)
            run_wrk(url, script, 1, 2)  # warm-up
            runs = drive(url, script, server, args, soak_name=f"rec_soak_{args.ranking}", title="GET /rec/api/recommend",
                         what=f"n = {N}, {args.items:,} items, ranked by the {args.ranking} model")
            if runs is None:
                return
        timings = profile(folder, users, args.profile) if args.profile else None
    write_report(args, info, sources, runs, ready_s, readiness, timings)


if __name__ == "__main__":
    main()
