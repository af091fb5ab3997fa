"""SMEV 3 cryptography: the SMEV transform, GOST R 34.10/34.11-2012, certificates, XMLDSig."""
