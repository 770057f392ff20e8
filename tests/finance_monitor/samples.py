"""Tiny original documents (written for these tests): feeds, a page, a stream CSV."""

RSS = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel>
  <title>Example Markets</title><link>https://news.example.com/</link><description>d</description>
  <item>
    <title>Acme shares tumble after profit warning</title>
    <link>https://news.example.com/acme-warning?utm_source=rss</link>
    <guid isPermaLink="false">acme-2024-0305</guid>
    <pubDate>Tue, 05 Mar 2024 14:30:00 -0500</pubDate>
    <description>&lt;p&gt;Acme &lt;b&gt;cut&lt;/b&gt; its outlook.&lt;/p&gt;&lt;script&gt;x()&lt;/script&gt;</description>
  </item>
  <item>
    <title>Central bank holds rates</title>
    <link>/rates-hold</link>
  </item>
</channel></rss>"""

ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>Example Wire</title><id>urn:example:wire</id><updated>2024-03-05T10:00:00Z</updated>
  <entry>
    <title type="html">Bond yields &lt;em&gt;jump&lt;/em&gt;</title>
    <id>urn:example:wire:1</id>
    <link href="https://wire.example.org/bonds"/>
    <published>2024-03-05T09:15:00+01:00</published><updated>2024-03-05T09:20:00+01:00</updated>
    <summary>Short summary.</summary>
    <content type="html">&lt;p&gt;Longer body about yields.&lt;/p&gt;</content>
  </entry>
</feed>"""

MALFORMED = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>Broken</title>
<item><title>Half an item</title><link>https://example.com/x</link></item>
<item><title>Unclosed"""

PAGE = b"""<!doctype html><html><head><title>Acme shares fall | Example News</title>
<meta name="date" content="2024-03-05"></head><body>
<nav><a href="/">Home</a> | <a href="/markets">Markets</a></nav>
<article><h1>Acme shares fall after profit warning</h1>
<p>Shares in Acme Corp fell sharply on Tuesday after the company warned that annual profit would miss expectations, citing weaker demand in Europe and higher costs.</p>
<p>The company said it would cut costs and review its dividend policy; analysts said the warning was the second in six months and that confidence in management was low.</p>
<script>track()</script></article>
<footer>Copyright Example News</footer></body></html>"""

STREAM = '''published_at,time_precision,source,ticker,headline,description
2019-05-06,day,reuters,,Stocks slide as tariff threat returns,
2019-05-06T09:30:00-04:00,minute,benzinga,AAPL,Apple shares lower premarket,
2019-05-06T19:51:00-04:00,minute,cnbc,,"Cramer: ""stay calm""",Teaser sentence
2019-05-01,month,guardian,,Monthly round-up,
2019-05-07,day,guardian,,Markets steady,
'''
