"""Mutual authentication of an API node and a media node on the control channel.

Before the first message, both prove they hold the shared secret without sending it:

    node -> API:  b"THN1" | node nonce (16)
    API  -> node: API nonce (16) | HMAC(secret, "api" | node nonce | API nonce)
    node -> API:  HMAC(secret, "node" | API nonce | node nonce | node id)

Either side closes the connection when a proof is wrong or late. After that the stream
carries the workers' wire protocol (`media/workers/wire.py`). The channel is not
encrypted: run media nodes on a private network (or a VPN) between the machines.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets

MAGIC = b"THN1"
NONCE = 16
PROOF = 32
TIMEOUT = 5.0


class NotAuthenticated(ConnectionError):
    """The other side does not hold the secret (or did not answer in time)."""


def _proof(secret: bytes, *parts: bytes) -> bytes:
    return hmac.digest(secret, b"|".join(parts), hashlib.sha256)


async def _read(reader: asyncio.StreamReader, size: int) -> bytes:
    try:
        async with asyncio.timeout(TIMEOUT):
            return await reader.readexactly(size)
    except (asyncio.IncompleteReadError, TimeoutError, ConnectionError) as exc:
        raise NotAuthenticated(f"no handshake ({type(exc).__name__})") from exc


async def node_side(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, secret: bytes, node_id: str
) -> None:
    """The media node's half; raises NotAuthenticated."""
    ours = secrets.token_bytes(NONCE)
    writer.write(MAGIC + ours)
    await writer.drain()
    answer = await _read(reader, NONCE + PROOF)
    theirs, proof = answer[:NONCE], answer[NONCE:]
    if not hmac.compare_digest(proof, _proof(secret, b"api", ours, theirs)):
        raise NotAuthenticated("the API's proof is wrong")
    writer.write(_proof(secret, b"node", theirs, ours, node_id.encode()))
    await writer.drain()


async def api_side(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, secret: bytes, node_id: str
) -> None:
    """The API node's half, connecting to `node_id`; raises NotAuthenticated."""
    hello = await _read(reader, len(MAGIC) + NONCE)
    if not hello.startswith(MAGIC):
        raise NotAuthenticated("not a media node")
    theirs = hello[len(MAGIC) :]
    ours = secrets.token_bytes(NONCE)
    writer.write(ours + _proof(secret, b"api", theirs, ours))
    await writer.drain()
    proof = await _read(reader, PROOF)
    if not hmac.compare_digest(proof, _proof(secret, b"node", ours, theirs, node_id.encode())):
        raise NotAuthenticated("the node's proof is wrong")
