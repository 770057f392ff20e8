"""What ``troika config`` shows, commented, for the monitor's tables that have no single default:
sources, a spike rule, and one alert channel of each type (``channel_config.py`` checks the
channels; their keys and defaults are listed there)."""

EXAMPLE = """
[[finance_monitor.sources]]
name = "wire"
kind = "rss"                               # rss | page (one article page) | replay (a stream CSV, the backtest layout)
url = "https://news.example.com/markets.rss"
interval = 900                             # seconds between polls

[finance_monitor.detector]                 # or several [[finance_monitor.rules]], each such a table plus a name
kind = "negative_volume"
alpha = 0.001                              # sensitivity: lower fires less
min_negative = 5

[[finance_monitor.channels]]
type = "alertmanager"                      # firing alerts re-sent every detection pass, then resolved
url = "http://alertmanager.internal:9093"  # base URL; troika POSTs <url>/api/v2/alerts

[[finance_monitor.channels]]
type = "webhook"                           # Alertmanager's webhook format (version 4)
name = "ops-hook"
url = "https://hooks.example.com/troika"

[[finance_monitor.channels]]
type = "slack"                             # a Slack incoming webhook
url = "https://hooks.slack.com/services/T000/B000/XXXX"

[[finance_monitor.channels]]
type = "email"
host = "smtp.example.com"
port = 587
starttls = true
username = "alerts@example.com"
password_env = "TROIKA_SMTP_PASSWORD"      # the password is read from this environment variable
from = "troika <alerts@example.com>"
to = ["risk-desk@example.com"]

[[finance_monitor.channels]]
type = "log"                               # the finance_monitor.alerts logger (the default when none is set)
"""
