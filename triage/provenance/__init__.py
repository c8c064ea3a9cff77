"""Provenance and trust anchors: PEP 740 attestations (pypi-attestations), ed25519 signing
(cryptography), and the trust store's files."""
