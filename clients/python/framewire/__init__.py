"""framewire: workers and clients of the framewire pipeline in Python.

The generated gRPC stubs of proto/framewire/v1 are in framewire.v1 (results_pb2, supplier_pb2, ...).
"""
__version__ = "0.1.0"
