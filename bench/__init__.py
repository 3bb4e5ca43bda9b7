"""Benchmarks, run from the repository root as ``python -m bench.<name>`` (``--help`` on each).

- ``fanout``: N WebSocket viewers join one live at once, then pins (vs ``bench.refservers``);
- ``flashsale``: B buyers, one product with K units, the same second (vs ``bench.naive_shop``);
- ``fulfillment``: placed orders per second to ``accepted`` through the queue;
- ``guessing``: password guessing floods and what they cost a shopper (vs no throttle);
- ``memprofile``: where the memory per idle viewer goes (tracemalloc, object counts);
- ``fanout_micro``: the hub's Python cost per viewer of one fan-out, without sockets.

``benchkit`` holds what they share; ``wsclient`` and ``orderload`` are their load
generators, ``refservers`` and ``naive_shop`` their references, ``serverwatch`` a
diagnostic wrapper. docs/benchmarks.md has the results and how they were measured.
"""
