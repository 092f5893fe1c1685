"""gRPC serving for the command stand-in: asset hashes and plain error messages.

`pulumi.provider.experimental` turns assets into `pulumi.Asset` objects and drops their `hash`, yet
CopyToRemote copies again exactly when the hash changes. This servicer reads the hashes from the raw
requests, hands the (old, new) pairs to the provider through a ContextVar, and writes them back into
the inputs and outputs it returns so that the state keeps them. It also reports a provider's
StepError as its bare message, instead of the SDK's message-plus-Python-traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import sys
from collections.abc import Awaitable
from contextvars import ContextVar
from pathlib import Path
from typing import Any, TypeVar

import grpc
from google.protobuf import struct_pb2
from pulumi.provider.experimental.provider import Provider
from pulumi.provider.experimental.server import ProviderServicer
from pulumi.runtime import proto, rpc
from pulumi.runtime._grpc_settings import _GRPC_CHANNEL_OPTIONS
from pulumi.runtime.proto import provider_pb2_grpc

Hashes = ContextVar[Any]
T = TypeVar("T")
_ASSET_SIGS = (rpc._special_asset_sig, rpc._special_archive_sig)
_WRAPPER_SIGS = (rpc._special_secret_sig, rpc._special_output_value_sig)


def _asset_struct(value: struct_pb2.Value | None) -> struct_pb2.Struct | None:
    """The asset or archive struct inside `value` (looking through secret/output wrappers)."""
    while value is not None and value.HasField("struct_value"):
        fields = value.struct_value.fields
        sig = fields[rpc._special_sig_key].string_value if rpc._special_sig_key in fields else None
        if sig in _ASSET_SIGS:
            return value.struct_value
        if sig not in _WRAPPER_SIGS:
            return None
        value = fields.get("value")
    return None


def _local_hash(asset: struct_pb2.Struct) -> str | None:
    """The content hash when the engine sent none: sha256 of the text, file or directory tree."""
    fields = asset.fields
    digest = hashlib.sha256()
    if "text" in fields:
        digest.update(fields["text"].string_value.encode())
    elif "path" in fields:
        root = Path(fields["path"].string_value)
        files = sorted(f for f in root.rglob("*") if f.is_file()) if root.is_dir() else [root]
        for f in files:
            if not f.is_file():
                return None
            digest.update(f"{f.relative_to(root) if root.is_dir() else ''}\0".encode())
            digest.update(f.read_bytes())
    else:
        return None
    return digest.hexdigest()


def _hash(value: struct_pb2.Value | None) -> str | None:
    asset = _asset_struct(value)
    if asset is None:
        return None
    if "hash" in asset.fields and asset.fields["hash"].string_value:
        return asset.fields["hash"].string_value
    return _local_hash(asset)


def _hash_pairs(olds: struct_pb2.Struct, news: struct_pb2.Struct) -> dict[str, tuple[str | None, str | None]]:
    names = {k for k, v in [*olds.fields.items(), *news.fields.items()] if _asset_struct(v) is not None}
    return {k: (_hash(olds.fields.get(k)), _hash(news.fields.get(k))) for k in names}


def _fill_elided(olds: struct_pb2.Struct) -> None:
    """Give content-less assets a placeholder content the SDK can unmarshal.

    The engine elides asset contents from what it sends to Diff and from old states (only the hash
    is left), which
    PropertyValue.unmarshal rejects; the provider compares old assets by hash only, like the real one.
    """
    for value in olds.fields.values():
        asset = _asset_struct(value)
        if asset is None or {"path", "text", "uri", "assets"} & set(asset.fields):
            continue
        if asset.fields[rpc._special_sig_key].string_value == rpc._special_asset_sig:
            asset.fields["text"].string_value = ""
        else:
            asset.fields["assets"].struct_value.SetInParent()


def _restore_hashes(returned: struct_pb2.Struct, sent: struct_pb2.Struct) -> None:
    for name, value in sent.fields.items():
        out = _asset_struct(returned.fields.get(name))
        content_hash = _hash(value)
        if out is not None and content_hash:
            out.fields["hash"].string_value = content_hash


class StandinServicer(ProviderServicer):
    def __init__(
        self,
        args: list[str],
        version: str,
        provider: Provider,
        engine_address: str,
        hashes: Hashes,
        step_error: type[Exception],
    ) -> None:
        super().__init__(args, version, provider, engine_address)
        self._hashes = hashes
        self._step_error = step_error

    async def _plain_errors(self, call: Awaitable[T], context: grpc.aio.ServicerContext) -> T:
        try:
            return await call
        except Exception as e:
            # The SDK re-raises as Exception(message + traceback); the original is its __context__.
            if isinstance(e.__context__, self._step_error):
                await context.abort(grpc.StatusCode.UNKNOWN, str(e.__context__))
            raise

    async def Check(self, request, context):
        response = await self._plain_errors(super().Check(request, context), context)
        _restore_hashes(response.inputs, request.news)
        return response

    async def Diff(self, request, context):
        token = self._hashes.set(_hash_pairs(request.olds, request.news))
        _fill_elided(request.olds)
        _fill_elided(request.news)  # elided here too: a diff needs only the hashes
        try:
            return await super().Diff(request, context)
        finally:
            self._hashes.reset(token)

    async def Create(self, request, context):
        response = await self._plain_errors(super().Create(request, context), context)
        _restore_hashes(response.properties, request.properties)
        return response

    async def Update(self, request, context):
        token = self._hashes.set(_hash_pairs(request.olds, request.news))
        _fill_elided(request.olds)
        try:
            response = await self._plain_errors(super().Update(request, context), context)
        finally:
            self._hashes.reset(token)
        _restore_hashes(response.properties, request.news)
        return response

    async def Read(self, request, context):
        # Refresh keeps the state as it is (the real provider reads nothing back either); returned
        # raw, since an asset whose contents the engine elided cannot go through PropertyValue.
        return proto.ReadResponse(id=request.id, properties=request.properties, inputs=request.inputs)

    async def Delete(self, request, context):
        _fill_elided(request.properties)
        return await self._plain_errors(super().Delete(request, context), context)


def serve(argv: list[str], version: str, provider: Provider, hashes: Hashes, step_error: type[Exception]) -> None:
    """Like pulumi.provider.experimental.server.main, with StandinServicer."""
    engine = next((a for a in argv if not a.startswith("-")), "")

    async def run() -> None:
        server = grpc.aio.server(options=_GRPC_CHANNEL_OPTIONS)
        servicer = StandinServicer(argv, version, provider, engine, hashes, step_error)
        provider_pb2_grpc.add_ResourceProviderServicer_to_server(servicer, server)
        port = server.add_insecure_port(address="127.0.0.1:0")
        await server.start()
        sys.stdout.write(f"{port}\n")  # the engine reads the port from the first line
        sys.stdout.flush()
        await server.wait_for_termination()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())
