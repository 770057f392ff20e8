"""Telling people: what a notice says (``messages``), where it goes (``channels``, ``email_channel``; built from
``[[finance_monitor.channels]]`` by ``channel_config``), and the scheduler's detection job (``detection_job``),
which judges the new buckets, saves the alerts and sends their events.

Imports ``detect``, the store and ``config_tables``.
"""
