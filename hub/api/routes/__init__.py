"""The API's routes, one module per audience: messages (participants), documents (execution
control), admin (administrators and auditors)."""
