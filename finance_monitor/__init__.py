"""troika app: finance_monitor — news feeds scored for sentiment and topic, negative-news spikes alerted.

Grouped by stage; each package imports only those before it (and ``shared``)::

    detect/     buckets, spike tests, alert lifecycle, trends       (nothing else of the monitor)
    ingest/     fetch, parse, poll, normalise, the demo feed        (detect.buckets)
    scoring/    sentiment model, topic assignment                   (config_tables)
    store.py, tables.py, migrations/: what the monitor keeps        (ingest, detect)
    alerting/   messages, channels, the detection job               (detect, store, config_tables)
    web/        dashboard pages, JSON API, metrics                  (detect, scoring)

At the top, what wires them: ``settings`` (the ``[finance_monitor]`` table), ``models`` (which model
serves), ``retraining``, ``scheduler``, ``pipeline`` (the :class:`~finance_monitor.pipeline.Monitor`),
``backtest`` (replay), and the suite's entry points ``plugin``, ``cli``, ``config_example``.
"""
