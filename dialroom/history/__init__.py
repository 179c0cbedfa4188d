"""The call history: every finished call, in a SQL database, for as long as RETENTION_DAYS.

Redis holds a call while it is live; once it has ended, the dispatcher's archiver
(`dispatcher.archive`) copies it here and lets its Redis keys expire. The API lists, reads,
exports, counts and erases calls from here. SQLite by default (a file, nothing to set up),
PostgreSQL through DATABASE_URL when several machines share one history. The schema is
changed only by the Alembic migrations in `migrations/`, run at every process start.
"""

from dialroom.history.call import ArchivedCall, CallFilter
from dialroom.history.store import HistoryStore, open_history

__all__ = ["ArchivedCall", "CallFilter", "HistoryStore", "open_history"]
