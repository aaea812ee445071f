"""framewire: workers and clients of the framewire pipeline in Python.

    from framewire import Worker
    Worker(analyze, worker_id="my-worker", stream="cam-1").run()

The generated gRPC stubs of proto/framewire/v1 are in framewire.v1 (results_pb2, supplier_pb2, ...).
"""
from .clients import CommandListener, CommandRefused, GatewayClient
from .connection import open_channel, token_metadata
from .shm import FrameRing, RingError
from .publisher import PublisherError, PublisherStats, ResultPublisher
from .worker import Worker, WorkerError, WorkerStats

__version__ = "0.1.0"
__all__ = ["FrameRing", "RingError", "CommandListener", "CommandRefused", "GatewayClient", "open_channel", "token_metadata", "PublisherError", "PublisherStats", "ResultPublisher", "Worker", "WorkerError", "WorkerStats"]
