"""The payment-status workers, built together: `subscriptions` (keeps the event subscriptions), `callbacks`
(processes the stored callbacks) and `status_reconciler` (the voucherlist safety net)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import asyncpg

from intplat_common.effects import AlertHook
from intplat_common.service import Worker

from .access import AccessGate
from .callbacks import CallbackProcessor
from .ports import LexofficeApi
from .settings import LexofficeBridgeSettings
from .status_reconciler import StatusReconciler
from .subscriptions import SubscriptionKeeper

STATUS_WORKERS = ("subscriptions", "callbacks", "status_reconciler")


@dataclass
class StatusWorkers:
    access: AccessGate
    subscriptions: SubscriptionKeeper
    callbacks: CallbackProcessor
    reconciler: StatusReconciler

    @classmethod
    def build(
        cls,
        settings: LexofficeBridgeSettings,
        pool: asyncpg.Pool,
        api: LexofficeApi,
        access: AccessGate,
        alert: AlertHook,
    ) -> StatusWorkers:
        retry = settings.retry_max_seconds
        return cls(
            access,
            SubscriptionKeeper(
                api,
                settings.subscription_callback_url,
                interval=settings.subscriptions_interval_seconds,
                retry_seconds=retry,
            ),
            CallbackProcessor(
                pool,
                api,
                access,
                alert,
                poll_seconds=settings.callbacks_poll_seconds,
                lease_seconds=settings.booker_lease_seconds,
                retry_base_seconds=settings.retry_base_seconds,
                retry_max_seconds=retry,
                partner_mode=settings.lexoffice_auth_mode == "oauth",
            ),
            StatusReconciler(
                pool,
                api,
                interval=settings.status_reconcile_interval_seconds,
                retry_seconds=retry,
                lookback_days=settings.status_reconcile_lookback_days,
            ),
        )

    def workers(self) -> Mapping[str, Worker]:
        return dict(zip(STATUS_WORKERS, (self.subscriptions, self.callbacks, self.reconciler), strict=True))
