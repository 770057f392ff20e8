"""What an article is about and how it reads: the sentiment model (``sentiment``, its data files in
``sentiment_data``) and topic assignment by tickers, keywords and embedding similarity (``topics``).

Imports only ``config_tables`` (the ``[[finance_monitor.topics]]`` tables are checked like the others).
"""
