"""An HTTPS simulator of the Device Management REST API (Pelion / Izuma, 2020-10-26 spec).

The dashboard runs against it by default (``make run``), end-to-end and browser tests target it,
and benchmarks use it as their load source. Public entry point: ``server.Simulator``.
Plain Python: only ``apps.py`` and ``management/`` import Django. ``docs/simulator.md`` maps
what it serves, its choices where the spec is silent, its faults, counters and seeded cases.
"""
