"""Execution control: what happens to a document at its recipient, recorded and signed.

- ``notices.py``: execution notices (xsd/hub/execution-1.0.xsd) as data and XML;
- ``rules.py``: which notice may follow which (pure; every store applies it in its transaction);
- ``calendar.py``: the production calendar, default terms, working days;
- ``journals.py``: registration journals and number templates;
- ``settings.py``: ``[execution]`` of hub.toml; ``policy.py``: the settings as the code uses them;
- ``report.py``: the execution summary («сводка об исполнении») and its formats.

The running part (registration on delivery, reminders, the overdue watch) is the hub's:
``hub/pipeline/execution.py``. The store keeps the state (``hub/store/sql_execution.py``).
"""
