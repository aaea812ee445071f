"""Channels, tokens and reconnection backoff shared by the worker, the publisher and the clients."""

import threading

import grpc

# Frames up to 64 MiB, as the TypeScript frame client accepts.
MAX_RECEIVE_MESSAGE_BYTES = 64 * 1024 * 1024
# Reconnection: the first wait, its growth factor, and its ceiling.
BACKOFF_INITIAL_S = 0.1
BACKOFF_FACTOR = 2.0
BACKOFF_MAX_S = 5.0
# Status codes after which a call is worth opening again: the peer is away or restarting.
RETRYABLE_CODES = frozenset({
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.CANCELLED,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.UNKNOWN,
    grpc.StatusCode.ABORTED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
})


def open_channel(address, root_cert=None, max_receive_bytes=MAX_RECEIVE_MESSAGE_BYTES):
    """A channel to host:port: TLS when root_cert (PEM bytes, or the path of a PEM file) is given,
    plaintext otherwise."""
    options = [("grpc.max_receive_message_length", max_receive_bytes)]
    if root_cert is None:
        return grpc.insecure_channel(address, options=options)
    if isinstance(root_cert, str):
        with open(root_cert, "rb") as pem:
            root_cert = pem.read()
    return grpc.secure_channel(address, grpc.ssl_channel_credentials(root_certificates=root_cert), options=options)


def token_metadata(token):
    """The bearer token that the services require on every call but health and stats (when they have one).
    Never logged: errors name the call and the status, not the metadata."""
    return (("authorization", "Bearer " + token),) if token else ()


class Backoff:
    """Exponential waits between reconnection attempts, reset after a success; wait() returns early
    (False) when `stopping` is set."""

    def __init__(self, stopping, initial_s=None, max_s=None):
        initial_s = BACKOFF_INITIAL_S if initial_s is None else initial_s
        max_s = BACKOFF_MAX_S if max_s is None else max_s
        if not 0 < initial_s <= max_s:
            raise ValueError("backoff initial_s %r must be in (0, max_s %r]" % (initial_s, max_s))
        self._stopping = stopping
        self._initial_s = initial_s
        self._max_s = max_s
        self._next_s = initial_s

    def reset(self):
        self._next_s = self._initial_s

    def wait(self):
        """Sleeps the next wait; True unless stopping was set meanwhile."""
        delay = self._next_s
        self._next_s = min(self._next_s * BACKOFF_FACTOR, self._max_s)
        return not self._stopping.wait(delay)




class RequestStream:
    """The request side of a streaming call: messages put() by the caller, ended by close()."""

    def __init__(self):
        self._condition = threading.Condition()
        self._items = []
        self._closed = False

    def put(self, item):
        with self._condition:
            self._items.append(item)
            self._condition.notify()

    def close(self):
        with self._condition:
            self._closed = True
            self._condition.notify()

    def __iter__(self):
        while True:
            with self._condition:
                while not self._items and not self._closed:
                    self._condition.wait()
                if not self._items:
                    return
                item = self._items.pop(0)
            yield item
