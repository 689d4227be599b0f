"""Temporal activities: the workflow's I/O (read model, e-mail), built with their dependencies.

Every synchronous one says `no_thread_cancel_exception=True`. Otherwise, when its activity is
cancelled (a worker shutting down cancels all it runs), the SDK raises an exception inside the
activity's thread at whatever line that thread is on: between a lock's acquire and the `try`
that releases it (the test suite hung for good on logging's handler lock, left held that way),
or between a write and its commit. Each is short and finishes; the workflow sees the cancel as
before.
"""
