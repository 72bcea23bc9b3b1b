"""The bookkeeping admin page at `/admin/`: pending, failed and manual-booking documents, each one's history, and the
operator's two actions, Retry and Mark as booked manually (server-rendered, basic auth, CSRF-protected forms)."""

from .routes import router

__all__ = ["router"]
