"""What people do with the hub, once: the command line (and the HTTP API) call these.

- ``connection.py``: the deployment's store and transport, opened next to a running hub;
- ``submit.py``: submit envelopes and wait for the hub's decision;
- ``inbox.py``: take what waits in a participant's inbox, each item once;
- ``trace.py``: a message's timeline, deliveries and answers;
- ``dead_letters.py``: list, replay, discard (with who and why on the timeline);
- ``status.py``: messages by state, queues, breakers, rules version, the running hub's pid;
- ``rules.py``: the rules versions applied.

Each function takes what it works on (a store, a transport) or a configuration; none prints.
"""
