"""The managers' page (docs/ui.md): where every document is, in Russian first, in a browser.

Server-rendered HTML (Jinja2) under ``/ui/`` of the API server, over the same ``hub/ops`` and
store queries as the API and the command line, with the same roles and rules.

- ``session.py``: users log in (argon2), sessions, CSRF, lock-out; the caller as the API sees it;
- ``i18n.py``: Russian and English (gettext catalogues in ``locale/``), dates as 15.12.2026;
- ``words.py``: a document's timeline in plain words; ``charts.py``: SVG charts (pygal);
- ``pages.py``, ``admin.py``, ``live.py``: the pages, administration, live counters (SSE);
- ``templates/``, ``static/``: the HTML, one stylesheet, a few lines of own JavaScript.
"""
