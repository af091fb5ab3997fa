"""Execution control: the terms by which a registered document must be executed (counted on the
production calendar), the registration numbers its journal gives it, and the summary that tells a
department what is on control, due soon, overdue and executed on time or late."""
