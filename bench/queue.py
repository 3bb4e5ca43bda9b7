"""Fulfillment-queue benchmark — entry point (the code is in ``bench/queuebench.py``).

    python bench/queue.py [--orders 20000] [--variants pg-redis-1 pg-redis-2 sqlite-local]
                          [--out bench/results/queue.json]

This file is named ``queue.py``, like the standard library's ``queue``. Any
script run as ``python bench/<script>.py`` has ``bench/`` first on ``sys.path``,
so an ``import queue`` anywhere in it (uvicorn, SQLAlchemy, redis and
``concurrent.futures`` all do one) finds this file. When imported under that
name it therefore installs the real standard-library module in its place and
defines nothing else.
"""

import sys

if __name__ != "__main__":
    import importlib.util
    import os
    import sysconfig

    _spec = importlib.util.spec_from_file_location(
        "queue", os.path.join(sysconfig.get_paths()["stdlib"], "queue.py")
    )
    if _spec is None or _spec.loader is None:  # pragma: no cover
        raise ImportError("the standard library's queue module was not found")
    _stdlib_queue = importlib.util.module_from_spec(_spec)
    sys.modules[__name__] = _stdlib_queue  # the import statement returns this one
    _spec.loader.exec_module(_stdlib_queue)
    globals().update({k: v for k, v in vars(_stdlib_queue).items() if not k.startswith("__")})
else:
    import os

    _here = os.path.dirname(os.path.abspath(__file__))
    # Put bench/ last, so the standard library's queue wins from here on.
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _here] + [_here]
    import queuebench

    raise SystemExit(queuebench.main())
