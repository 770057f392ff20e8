"""From scored items to alerts: per-topic time buckets (``buckets``), spike tests (``spikes``), an alert's
lifecycle (``alert_lifecycle``: firing, resolved, deduplicated), the detection pass the live job and the
replay share (``detection``), and the dashboard's trend figures (``trends``).

Plain statistics over plain data: imports nothing else of the monitor.
"""
