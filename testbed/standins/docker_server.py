"""The gRPC side of the docker stand-in: the experimental SDK's servicer with two corrections.

- Diff gets the old *inputs* (the SDK drops DiffRequest.old_inputs), which the bridge diffs against.
- A docker failure (DockerError) fails the step with its own message; the SDK's wrapper would add
  "Unexpected <class 'Exception'>" and a Python stack trace to it.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable
from typing import Any, TypeVar

import grpc
import grpc.aio
from google.protobuf import empty_pb2
from pulumi.provider.experimental import provider as p
from pulumi.provider.experimental.property_value import PropertyValue
from pulumi.provider.experimental.server import ProviderServicer
from pulumi.runtime import proto
from pulumi.runtime._grpc_settings import _GRPC_CHANNEL_OPTIONS
from pulumi.runtime.proto import provider_pb2_grpc

from testbed.standins.docker_cli import DockerError

T = TypeVar("T")


class DiffRequestWithInputs(p.DiffRequest):
    def __init__(self, *args: Any, old_inputs: dict[str, PropertyValue], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.old_inputs = old_inputs


def _props(struct: Any) -> dict[str, PropertyValue]:
    return PropertyValue.unmarshal_map(struct)


class Servicer(ProviderServicer):
    async def _clean(self, context: Any, call: Awaitable[T]) -> T:
        try:
            return await call
        except (DockerError, ValueError, OSError) as err:
            await context.abort(grpc.StatusCode.UNKNOWN, str(err))
            raise  # abort() raises; this keeps type checkers content

    async def Diff(self, request: proto.DiffRequest, context: Any) -> proto.DiffResponse:
        old_inputs = _props(request.old_inputs) if request.HasField("old_inputs") else {}
        resp = await self._provider.diff(
            DiffRequestWithInputs(
                request.urn,
                request.id,
                _props(request.olds),
                _props(request.news),
                list(request.ignoreChanges),
                old_inputs=old_inputs,
            )
        )
        kinds = {kind: getattr(proto.PropertyDiff, kind.name) for kind in p.PropertyDiffKind}
        return proto.DiffResponse(
            replaces=resp.replaces,
            stables=resp.stables,
            deleteBeforeReplace=resp.delete_before_replace,
            changes=proto.DiffResponse.DIFF_SOME if resp.changes else proto.DiffResponse.DIFF_NONE,
            diffs=resp.diffs,
            detailedDiff={
                k: proto.PropertyDiff(kind=kinds[v.kind], inputDiff=v.input_diff) for k, v in resp.detailed_diff.items()
            },
            hasDetailedDiff=True,
        )

    async def Create(self, request: Any, context: Any) -> proto.CreateResponse:
        req = p.CreateRequest(request.urn, _props(request.properties), request.timeout, request.preview)
        resp = await self._clean(context, self._provider.create(req))
        return proto.CreateResponse(id=resp.resource_id, properties=PropertyValue.marshal_map(resp.properties))

    async def Read(self, request: Any, context: Any) -> proto.ReadResponse:
        req = p.ReadRequest(request.urn, request.id, _props(request.properties), _props(request.inputs))
        resp = await self._clean(context, self._provider.read(req))
        return proto.ReadResponse(
            id=resp.resource_id,
            properties=PropertyValue.marshal_map(resp.properties),
            inputs=PropertyValue.marshal_map(resp.inputs),
        )

    async def Update(self, request: Any, context: Any) -> proto.UpdateResponse:
        req = p.UpdateRequest(
            request.urn,
            request.id,
            _props(request.olds),
            _props(request.news),
            timeout=request.timeout,
            ignore_changes=list(request.ignoreChanges),
            preview=request.preview,
        )
        resp = await self._clean(context, self._provider.update(req))
        return proto.UpdateResponse(properties=PropertyValue.marshal_map(resp.properties))

    async def Delete(self, request: Any, context: Any) -> empty_pb2.Empty:
        req = p.DeleteRequest(request.urn, request.id, _props(request.properties), timeout=request.timeout)
        await self._clean(context, self._provider.delete(req))
        return empty_pb2.Empty()


async def serve(engine_address: str, version: str, provider: p.Provider) -> None:
    """As pulumi.provider.experimental.server.main, with the servicer above: prints the port."""
    server = grpc.aio.server(options=_GRPC_CHANNEL_OPTIONS)
    servicer = Servicer(sys.argv[1:], version, provider, engine_address=engine_address)
    provider_pb2_grpc.add_ResourceProviderServicer_to_server(servicer, server)
    port = server.add_insecure_port(address="127.0.0.1:0")
    await server.start()
    sys.stdout.buffer.write(f"{port}\n".encode())
    sys.stdout.buffer.flush()
    try:
        await server.wait_for_termination()
    finally:
        # Stop inside the loop: left to grpc's finaliser it fails with "Event loop is closed".
        await server.stop(0)
