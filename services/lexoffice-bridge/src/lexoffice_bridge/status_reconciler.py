"""The safety net under the callbacks: at a low frequency, the voucherlist (paged, each page a paced call) of the
documents updated since the last round is compared with what the ledger knows of the documents we booked that are
still open; what differs is appended (`status.record_observation`), so a status change whose callback was lost is
recorded all the same. A round without open documents makes no call.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import asyncpg

from . import status
from .periodic import PeriodicWorker
from .planning import BOOKING_TIMEZONE
from .ports import LexofficeApi
from .status import Observation

# The voucherlist types of what the bridge books: vouchers (Stripe's invoices and refunds) and Lexoffice's own
# invoices and credit notes.
VOUCHER_TYPES = "salesinvoice,salescreditnote,invoice,creditnote"


class StatusReconciler(PeriodicWorker):
    name = "status_reconciler"

    def __init__(
        self, pool: asyncpg.Pool, api: LexofficeApi, *, interval: float, retry_seconds: float, lookback_days: int
    ) -> None:
        super().__init__(interval=interval, retry_seconds=retry_seconds)
        self._pool = pool
        self._api = api
        self._lookback = timedelta(days=lookback_days)
        self._since: date | None = None  # the day the last complete round started

    async def run_once(self) -> int:
        """One round; returns the number of ledger rows appended."""
        today = datetime.now(BOOKING_TIMEZONE).date()
        open_documents = await status.open_documents(self._pool)
        if not open_documents:
            self._since = today
            return 0
        by_id = {document.lexoffice_id: document for document, _ in open_documents}
        oldest = min(date.fromisoformat(day) for _, day in open_documents)
        # The filter has day granularity (a German day): the round overlaps the previous one by that day.
        since = max(oldest, today - self._lookback) if self._since is None else self._since
        filters = {
            "voucherType": VOUCHER_TYPES,
            "voucherStatus": "any",
            "updatedDateFrom": since.isoformat(),
            "sort": "updatedDate,DESC",
        }
        appended = 0
        page = 0
        while True:
            result = await self._api.voucherlist(filters, page=page)
            for item in result.items:
                document = by_id.get(item.id)
                if document is None:
                    continue
                open_amount = Decimal(str(item.open_amount)) if item.open_amount is not None else None
                seen = Observation(item.voucher_status, open_amount, "voucherlist", item.raw)
                appended += len(await status.record_observation(self._pool, document, seen))
            if result.last:
                break
            page += 1
        self._since = today
        return appended
