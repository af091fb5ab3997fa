"""The SMEV 3 wire protocol: SOAP 1.1 envelopes, faults and the message-exchange 1.3 messages."""
