"""The neutral leaf of livecart: what ``live``, ``checkout`` and ``app`` all need — UTC
time (``times``), Redis key and channel names (``keys``), SQL helpers that hide the
dialect (``sql``), shared limits (``limits``), the deal terms that cross the seam
(``deals``) and stopping tasks within a bound (``tasks``).

Imports nothing of ``app``, ``live`` or ``checkout`` (``tests/common/test_common.py`` checks),
so any of them may import it.
"""
