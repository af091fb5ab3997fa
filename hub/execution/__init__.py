"""Execution control: what happens to a document at its recipient, recorded and signed.

- ``notices.py``: execution notices (xsd/hub/execution-1.0.xsd) as data and XML;
- ``rules.py``: which notice may follow which (pure; every store applies it in its transaction);
- ``calendar.py``: the production calendar, default terms, working days;
- ``journals.py``: registration journals and number templates;
- ``control.py``: the hub's side: notices it sends itself (automatic registration, reminders,
  overdue), the continuous overdue scan;
- ``report.py``: the execution summary («сводка об исполнении») and its formats.
"""
