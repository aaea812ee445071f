"""Clients of the gateway: a results subscriber (SubscribeResults), commands with their
acknowledgements (SendCommand), and a command listener for a service written in Python
(ListenCommands: the command and its ack on one call, reopened with backoff)."""
import json
import threading
import uuid

import grpc

from .connection import Backoff, RETRYABLE_CODES, RequestStream, open_channel, token_metadata
from .v1 import commands_pb2, gateway_pb2, gateway_pb2_grpc, results_pb2

KINDS = {
    "keypoints": results_pb2.RESULT_KIND_KEYPOINTS,
    "segmentation": results_pb2.RESULT_KIND_SEGMENTATION,
    "detections": results_pb2.RESULT_KIND_DETECTIONS,
    "tracks": results_pb2.RESULT_KIND_TRACKS,
    "stage": results_pb2.RESULT_KIND_STAGE,
}
DEFAULT_COMMAND_TIMEOUT_MS = 5000
# The SendCommand deadline beyond the command's own timeout, for the gateway to answer TIMEOUT itself.
SEND_COMMAND_MARGIN_S = 5


class CommandRefused(Exception):
    """A command handler's way to acknowledge with ACK_STATUS_ERROR and a message."""


class GatewayClient:
    """Reads results from the gateway and sends it commands."""

    def __init__(self, address="127.0.0.1:50054", token=None, root_cert=None):
        self.channel = open_channel(address, root_cert)
        self._results = gateway_pb2_grpc.ResultHubStub(self.channel)
        self._commands = gateway_pb2_grpc.CommandRouterStub(self.channel)
        self._metadata = token_metadata(token)

    def subscribe(self, stream_id="", worker_id="", kinds=()):
        """Live results matching the filter (empty: all; kinds by name, e.g. ["detections"]), as an
        iterator of Result; cancel() it to stop."""
        unknown = [k for k in kinds if k not in KINDS]
        if unknown:
            raise ValueError("unknown result kind %r; known: %s" % (unknown[0], ", ".join(KINDS)))
        request = gateway_pb2.SubscribeResultsRequest(stream_id=stream_id, worker_id=worker_id, kinds=[KINDS[k] for k in kinds])
        return _Results(self._results.SubscribeResults(request, metadata=self._metadata))

    def send_command(self, target, command_type, payload=None, request_id=None, timeout_ms=DEFAULT_COMMAND_TIMEOUT_MS):
        """Sends a command and returns its acknowledgement (a CommandAck: status, message, responder, latency_us)."""
        command = commands_pb2.Command(
            request_id=request_id or "py-" + uuid.uuid4().hex,
            target=target,
            type=command_type,
            payload_json=json.dumps(payload) if payload is not None else "",
            timeout_ms=timeout_ms,
        )
        response = self._commands.SendCommand(gateway_pb2.SendCommandRequest(command=command), metadata=self._metadata,
                                              timeout=timeout_ms / 1000 + SEND_COMMAND_MARGIN_S)
        return response.ack

    def close(self):
        self.channel.close()


class _Results:
    """The SubscribeResults call as an iterator of Result."""

    def __init__(self, call):
        self._call = call

    def __iter__(self):
        for response in self._call:
            yield response.result

    def cancel(self):
        self._call.cancel()


class CommandListener:
    """Receives the commands the gateway routes to service_id (and to its pool) and acknowledges each
    with what handle(command) did: it returns (or returns None) for ACK_STATUS_SUCCESS with its text
    as the message, raises CommandRefused (or any exception) for ACK_STATUS_ERROR with the message.
    Runs on a thread of its own; reopens the call with backoff when the gateway goes away."""

    def __init__(self, address, service_id, handle, pool_id="", token=None, root_cert=None):
        self._channel = open_channel(address, root_cert)
        self._stub = gateway_pb2_grpc.CommandRouterStub(self._channel)
        self._metadata = token_metadata(token)
        self._subscribe = gateway_pb2.SubscribeCommandsRequest(service_id=service_id, pool_id=pool_id)
        self._service_id = service_id
        self._handle = handle
        self._stopping = threading.Event()
        self._backoff = Backoff(self._stopping)
        self._call = None
        self.handled = 0
        self.error = None
        self._thread = threading.Thread(target=self._run, name="framewire-commands", daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stopping.is_set():
            acks = RequestStream()
            acks.put(gateway_pb2.ListenCommandsRequest(subscribe=self._subscribe))
            self._call = self._stub.ListenCommands(iter(acks), metadata=self._metadata)
            try:
                for response in self._call:
                    self._backoff.reset()
                    acks.put(gateway_pb2.ListenCommandsRequest(ack=self._acknowledge(response.command)))
            except grpc.RpcError as err:
                if not self._stopping.is_set() and err.code() not in RETRYABLE_CODES:
                    self.error = "ListenCommands: %s: %s" % (err.code().name, err.details())
                    return
            finally:
                acks.close()
            self._backoff.wait()

    def _acknowledge(self, command):
        ack = commands_pb2.CommandAck(request_id=command.request_id, responder=self._service_id)
        try:
            message = self._handle(command)
            ack.status = commands_pb2.ACK_STATUS_SUCCESS
            ack.message = "" if message is None else str(message)
        except Exception as err:  # the handler's failure is the command's error ack, not the listener's end
            ack.status = commands_pb2.ACK_STATUS_ERROR
            ack.message = str(err) or type(err).__name__
        self.handled += 1
        return ack

    def close(self, timeout_s=5.0):
        self._stopping.set()
        if self._call is not None:
            self._call.cancel()
        self._thread.join(timeout_s)
        self._channel.close()

