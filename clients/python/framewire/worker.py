"""Worker: your analyze(frame) callback as a framewire worker. It pulls frames from the supplier with
credits (alone, or as a member of a worker pool), calls the callback, wraps what it returns in the
result envelope and publishes it through the bounded reconnecting ResultPublisher. It reconnects with
backoff, under the same instance id, when the supplier goes away, and stops gracefully on stop()."""
import threading
import time
import uuid
from dataclasses import dataclass

import grpc

from .clients import CommandListener
from .connection import Backoff, RETRYABLE_CODES, RequestStream, open_channel, token_metadata
from .publisher import DEFAULT_MAX_QUEUED_BYTES, DEFAULT_MAX_QUEUED_RESULTS, ResultPublisher
from .v1 import results_pb2, supplier_pb2, supplier_pb2_grpc

# A pool member's largest batch: the supplier's default FW_SUPPLIER_MAX_POOL_CREDITS. The supplier
# ends the call (INVALID_ARGUMENT naming credits) on a grant beyond its bound.
MAX_BATCH = 16
POOL_MODES = {"shared": supplier_pb2.POOL_MODE_SHARED, "sticky": supplier_pb2.POOL_MODE_STICKY}
# How long stop() lets the publisher hand over the queued results.
STOP_FLUSH_S = 5.0
# The payload field of Result for each type a callback may return.
PAYLOAD_FIELDS = {
    results_pb2.KeyPoints: "keypoints",
    results_pb2.Segmentation: "segmentation",
    results_pb2.Detections: "detections",
    results_pb2.Tracks: "tracks",
    bytes: "stage",
}


class WorkerError(Exception):
    """The supplier refused this worker for good (bad token, bad subscription, worker id taken...),
    or a callback broke its contract. code and details: the gRPC status of a refusal, else None."""

    def __init__(self, message, code=None, details=None):
        super().__init__(message)
        self.code = code
        self.details = details


@dataclass
class WorkerStats:
    frames: int = 0  # analysed
    batches: int = 0
    results: int = 0  # published (queued to the publisher)
    reconnects: int = 0  # Pull calls opened after the first
    frames_dropped_at_supplier: int = 0  # sum of Delivery.dropped_since_last
    frames_lost_in_reconnect: int = 0  # deliveries of an incomplete batch when the call ended


def now_us():
    return time.time_ns() // 1000


def results_of(returned):
    """The payloads a callback returned for one frame, as a list of (field, value): a KeyPoints,
    Segmentation, Detections or Tracks message, stage bytes, a list or tuple of those, or None."""
    if returned is None:
        return []
    items = returned if isinstance(returned, (list, tuple)) else [returned]
    payloads = []
    for item in items:
        field = PAYLOAD_FIELDS.get(type(item)) or ("stage" if isinstance(item, (bytes, bytearray)) else None)
        if field is None:
            raise WorkerError("analyze returned a %s; expected KeyPoints, Segmentation, Detections, Tracks, stage bytes, a list of them or None"
                              % type(item).__name__)
        payloads.append((field, bytes(item) if field == "stage" else item))
    return payloads


class Worker:
    """A framewire worker around analyze(frame) -> results (or analyze_batch(frames) -> [results per frame]).

    frame is a framewire.v1 Frame (stream_id, sequence, capture_time_us, width, height, data: the JPEG).
    Give one of stream, streams or all_streams; streams, all_streams and batch > 1 need a pool.
    on_command(command) -> message, if given, receives the commands sent to worker_id (or its pool)
    and acknowledges each: success with the returned text, or an error with the exception's message.
    observe(deliveries), if given, sees each batch's Delivery messages (pool_id, dropped_since_last,
    batch_remaining) before it is analysed."""

    def __init__(self, analyze=None, *, analyze_batch=None, worker_id, supplier="127.0.0.1:50052", gateway="127.0.0.1:50054",
                 stream=None, streams=(), all_streams=False, pool=None, pool_mode="shared", batch=1, token=None,
                 root_cert=None, max_queued_results=DEFAULT_MAX_QUEUED_RESULTS, max_queued_bytes=DEFAULT_MAX_QUEUED_BYTES,
                 backoff_initial_s=None, backoff_max_s=None, on_command=None, observe=None):
        if (analyze is None) == (analyze_batch is None):
            raise ValueError("give exactly one of analyze and analyze_batch")
        if sum((bool(stream), bool(streams), bool(all_streams))) != 1:
            raise ValueError("give exactly one of stream, streams and all_streams")
        if not pool and (streams or all_streams or batch != 1):
            raise ValueError("streams, all_streams and batch %r need a pool: a worker of several streams or batches joins one" % (batch,))
        if not 1 <= batch <= MAX_BATCH:
            raise ValueError("batch %r is not in 1..%d" % (batch, MAX_BATCH))
        if pool_mode not in POOL_MODES:
            raise ValueError("pool_mode %r is not one of %s" % (pool_mode, ", ".join(sorted(POOL_MODES))))
        self.worker_id = worker_id
        # Sent with every Pull of this object, reconnects included: the supplier replaces this worker's
        # own older call at once instead of refusing it as another process (docs/supplier.md).
        self.instance_id = uuid.uuid4().hex
        self._analyze_batch = analyze_batch or (lambda frames: [analyze(frame) for frame in frames])
        self._batch = batch
        self._observe = observe
        self._subscribe = supplier_pb2.SubscribeRequest(worker_id=worker_id, instance_id=self.instance_id, prefer_shared_memory=False)
        if pool:
            self._subscribe.pool_id = pool
            self._subscribe.pool_mode = POOL_MODES[pool_mode]
        if all_streams:
            self._subscribe.all_streams = True
        elif streams:
            self._subscribe.stream_ids.extend(streams)
        else:
            self._subscribe.stream_id = stream
        self._metadata = token_metadata(token)
        self._supplier = open_channel(supplier, root_cert)
        self._gateway = open_channel(gateway, root_cert)
        self.publisher = ResultPublisher(self._gateway, token, max_queued_results, max_queued_bytes, backoff_initial_s, backoff_max_s)
        self._stopping = threading.Event()
        self._backoff = Backoff(self._stopping, backoff_initial_s, backoff_max_s)
        # Commands addressed to worker_id (or its pool), acknowledged with what on_command did (CommandListener).
        self._command_listener_args = (gateway, worker_id, on_command, pool or "", token, root_cert) if on_command else None
        self.commands = None
        self._call = None
        self._call_lock = threading.Lock()
        self.stats = WorkerStats()

    def run(self, max_frames=0):
        """Pulls and analyses until stop() (or max_frames frames, 0: no limit), then stops gracefully:
        ends the Pull call, hands the queued results to the gateway, closes the channels. Raises
        WorkerError when the supplier or the gateway refuses this worker for good."""
        if self._command_listener_args:
            self.commands = CommandListener(*self._command_listener_args)
        try:
            first = True
            while not self._stopping.is_set():
                if not first:
                    self.stats.reconnects += 1
                first = False
                error = self._pull(max_frames)
                if error is not None:
                    if error.code() not in RETRYABLE_CODES:
                        raise WorkerError("Pull: %s: %s" % (error.code().name, error.details()), error.code(), error.details())
                if self._stopping.is_set() or (max_frames and self.stats.frames >= max_frames):
                    break
                if self.publisher.error is not None:
                    raise self.publisher.error
                self._backoff.wait()
        finally:
            self._stopping.set()
            if self.commands is not None:
                self.commands.close()
            self.publisher.close(STOP_FLUSH_S)
            self._supplier.close()
            self._gateway.close()
        if self.publisher.error is not None:
            raise WorkerError(str(self.publisher.error))
        return self.stats

    def stop(self):
        """Asks run() to stop; safe from another thread or a signal handler."""
        self._stopping.set()
        with self._call_lock:
            call = self._call
        if call is not None:
            # Cancelled from a thread of its own: a signal handler must not wait on gRPC's locks.
            threading.Thread(target=call.cancel, daemon=True).start()

    def _pull(self, max_frames):
        """One Pull call: subscribe, grant credits, analyse each batch. Returns the RpcError that ended
        it, or None when it ended cleanly or the worker is stopping."""
        requests = RequestStream()
        requests.put(supplier_pb2.PullRequest(subscribe=self._subscribe))
        requests.put(supplier_pb2.PullRequest(credits=self._batch))
        outstanding = self._batch
        batch = []  # the Delivery messages of the batch being received
        call = supplier_pb2_grpc.FrameSupplierStub(self._supplier).Pull(iter(requests), metadata=self._metadata)
        with self._call_lock:
            self._call = call
        if self._stopping.is_set():
            call.cancel()
        try:
            for response in call:
                delivery = response.delivery
                outstanding -= 1
                self._backoff.reset()
                self.stats.frames_dropped_at_supplier += delivery.dropped_since_last
                batch.append(delivery)
                if delivery.batch_remaining > 0:
                    continue  # the rest of the batch is in the next messages
                if self._observe is not None:
                    self._observe(batch)
                self._analyse([d.frame for d in batch])
                batch = []
                if self._stopping.is_set() or (max_frames and self.stats.frames >= max_frames):
                    return None
                if outstanding == 0:  # ask for the next batch only now: the frames stay the newest
                    requests.put(supplier_pb2.PullRequest(credits=self._batch))
                    outstanding = self._batch
            return None
        except grpc.RpcError as err:
            return None if self._stopping.is_set() else err
        finally:
            self.stats.frames_lost_in_reconnect += len(batch)
            call.cancel()
            requests.close()
            with self._call_lock:
                self._call = None

    def _analyse(self, frames):
        started = time.perf_counter()
        returned = self._analyze_batch(frames)
        processing_us = int((time.perf_counter() - started) * 1e6)  # the whole batch's
        if not isinstance(returned, (list, tuple)) or len(returned) != len(frames):
            raise WorkerError("analyze_batch returned %r for %d frames; expected a list of one result per frame" % (type(returned).__name__, len(frames)))
        for frame, results in zip(frames, returned):
            for field, payload in results_of(results):
                result = results_pb2.Result(
                    stream_id=frame.stream_id,
                    frame_sequence=frame.sequence,
                    capture_time_us=frame.capture_time_us,
                    worker_id=self.worker_id,
                    processing_us=processing_us,
                    published_time_us=now_us(),
                )
                if field == "stage":
                    result.stage = payload
                else:
                    getattr(result, field).CopyFrom(payload)
                self.publisher.publish(result)
                self.stats.results += 1
        self.stats.frames += len(frames)
        self.stats.batches += 1

