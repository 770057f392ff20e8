"""Getting news in: fetch (``fetch``), parse feeds, pages and stream files (``sources``), poll a source once
(``poll``), clean and key each article for deduplication (``normalise``), and the demo RSS feed (``demo_feed``).

Imports only ``detect.buckets`` (a replay source moves its rows onto the wall clock in whole buckets).
"""
