"""The HTTP API (docs/api.md): departments, agencies and administrators, over ``hub/ops``.

- ``app.py``: the FastAPI application (OpenAPI 3.1 at ``/openapi.json``, ``/docs``);
- ``server.py``: uvicorn inside ``hub serve``, with TLS and client certificates;
- ``auth.py``: who calls (tokens, client certificates), roles, the rate limit;
- ``leases.py``: pulling an inbox with a lease;
- ``problems.py``: errors as problem+json with stable codes;
- ``models.py``: the JSON shapes; ``routes/``: the endpoints;
- ``client.py``: a typed client (httpx) for the command line and integrators.
"""
