"""Delivery to departments: one durable inbox queue per department (``inbox.<id>``)."""

from adapters.internal.adapter import InternalAdapter, create

__all__ = ["InternalAdapter", "create"]
