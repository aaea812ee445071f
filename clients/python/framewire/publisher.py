"""The worker's result publisher: one client-streaming ResultHub.PublishResults call fed from a queue
bounded in count and in bytes, reopened with backoff when the gateway goes away. publish() never
blocks: beyond either bound the oldest queued result is dropped and counted, so the newest are kept."""
import collections
import threading
from dataclasses import dataclass

import grpc

from .connection import Backoff, RETRYABLE_CODES, token_metadata
from .v1 import gateway_pb2, gateway_pb2_grpc

DEFAULT_MAX_QUEUED_RESULTS = 256
DEFAULT_MAX_QUEUED_BYTES = 16 * 1024 * 1024
# How long one wait for the gateway's channel lasts before the stop flag is looked at again.
READY_POLL_S = 0.5


class PublisherError(Exception):
    """The gateway refused the results for good (a bad token, say): reconnecting cannot help."""


@dataclass
class PublisherStats:
    queued: int = 0  # results waiting now
    queued_bytes: int = 0
    sent: int = 0  # handed to a PublishResults call
    delivered: int = 0  # counted by the gateway (results_received of the calls that ended)
    dropped_oldest: int = 0  # dropped from the queue, beyond its bounds, to keep the newest
    dropped_at_stop: int = 0  # still queued when close() gave up on an absent gateway
    reconnects: int = 0  # calls opened after the first


class ResultPublisher:
    def __init__(self, channel, token=None, max_queued=DEFAULT_MAX_QUEUED_RESULTS, max_queued_bytes=DEFAULT_MAX_QUEUED_BYTES,
                 backoff_initial_s=None, backoff_max_s=None):
        if max_queued < 1:
            raise ValueError("max_queued %r must be at least 1" % (max_queued,))
        if max_queued_bytes < 1:
            raise ValueError("max_queued_bytes %r must be at least 1" % (max_queued_bytes,))
        self._channel = channel
        self._stub = gateway_pb2_grpc.ResultHubStub(channel)
        self._metadata = token_metadata(token)
        self._max_queued = max_queued
        self._max_queued_bytes = max_queued_bytes
        self._queue = collections.deque()  # (PublishResultsRequest, size)
        self._condition = threading.Condition()
        self._closing = False
        self._stopping = threading.Event()  # close() gave up: leave the backoff and the wait for the gateway
        self._call = None
        self.stats = PublisherStats()
        self.error = None
        self._backoff = Backoff(self._stopping, backoff_initial_s, backoff_max_s)
        self._thread = threading.Thread(target=self._run, name="framewire-result-publisher", daemon=True)
        self._thread.start()

    def publish(self, result):
        """Queues a Result; never blocks. Beyond max_queued results or max_queued_bytes the oldest go."""
        request = gateway_pb2.PublishResultsRequest(result=result)
        size = request.ByteSize()
        with self._condition:
            if self._closing:
                raise PublisherError("publish() after close()")
            self._queue.append((request, size))
            self.stats.queued_bytes += size
            while len(self._queue) > self._max_queued or (self.stats.queued_bytes > self._max_queued_bytes and len(self._queue) > 1):
                _, dropped = self._queue.popleft()
                self.stats.queued_bytes -= dropped
                self.stats.dropped_oldest += 1
            if self.stats.queued_bytes > self._max_queued_bytes:  # one result larger than the whole bound
                self._queue.popleft()
                self.stats.queued_bytes -= size
                self.stats.dropped_oldest += 1
            self.stats.queued = len(self._queue)
            self._condition.notify()

    def _requests(self):
        while True:
            with self._condition:
                while not self._queue and not self._closing:
                    self._condition.wait()
                if not self._queue:
                    return  # closing, and everything was handed over: the call ends
                request, size = self._queue.popleft()
                self.stats.queued_bytes -= size
                self.stats.queued = len(self._queue)
                self.stats.sent += 1
            yield request

    def _wait_for_gateway(self):
        while not self._stopping.is_set():
            try:
                grpc.channel_ready_future(self._channel).result(timeout=READY_POLL_S)
                return True
            except grpc.FutureTimeoutError:
                continue
        return False

    def _run(self):
        first = True
        while self._wait_for_gateway():
            if not first:
                self.stats.reconnects += 1
            first = False
            try:
                self._call = self._stub.PublishResults.future(self._requests(), metadata=self._metadata)
                response = self._call.result()
                self.stats.delivered += response.results_received
                self._backoff.reset()
                with self._condition:
                    if self._closing and not self._queue:
                        return
            except grpc.RpcError as err:
                if err.code() not in RETRYABLE_CODES:
                    self.error = PublisherError("PublishResults: %s: %s" % (err.code().name, err.details()))
                    return
            if not self._backoff.wait():
                return

    def close(self, timeout_s=5.0):
        """Ends the call once the queued results are handed over, waiting at most timeout_s; results
        still queued then (the gateway away) are counted in dropped_at_stop. Returns the stats."""
        with self._condition:
            self._closing = True
            self._condition.notify_all()
        self._thread.join(timeout_s)
        self._stopping.set()
        if self._thread.is_alive() and self._call is not None:
            self._call.cancel()
        self._thread.join(READY_POLL_S * 2)
        with self._condition:
            self.stats.dropped_at_stop += len(self._queue)
            self._queue.clear()
            self.stats.queued = 0
            self.stats.queued_bytes = 0
        return self.stats
