"""Our own test harnesses, kept out of the installed package: the kill campaign (``crash``) and the
fuzz targets of every reader (``fuzz``). Tests import them as ``harness.crash`` and ``harness.fuzz``
(pytest puts ``tests/`` on the path); ``benchmarks/kill_campaign.py`` and ``benchmarks/fuzz.py`` add
``tests/`` to the path themselves.
"""
