"""Agency tokens: issued and revoked by the national operator, verified by every service on its own.

The service that issues or revokes a token announces it on `rehab.access` with a signed event (`tokens.py`); every
service keeps those in its `access_tokens` table (`store.py`), which is how a revocation reaches every replica. The
operator's endpoints are in `api.py`.
"""
