#!/usr/bin/python3
"""A framewire client in Python: a worker (Pull frames from the supplier, alone or as a member of a
worker pool, publish results to the gateway) and a consumer (subscribe to results, send commands).
Standard library plus grpcio and protobuf; the stubs are generated from proto/ by generate.sh.

    ./generate.sh
    /usr/bin/python3 framewire_client.py worker  --supplier 127.0.0.1:50052 --gateway 127.0.0.1:50054
    /usr/bin/python3 framewire_client.py worker  --pool detectors --streams cam-1,cam-2 --batch 2
    /usr/bin/python3 framewire_client.py consume --gateway 127.0.0.1:50054 --worker-id py-worker-1
    /usr/bin/python3 framewire_client.py command --gateway 127.0.0.1:50054 --target worker-1 \\
        --type worker.set_fps --payload '{"fps": 5}'
"""
import argparse
import json
import os
import queue
import sys
import threading
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.environ.get("FW_PYTHON_STUBS", os.path.join(HERE, "generated")))

import grpc  # noqa: E402
from google.protobuf import json_format  # noqa: E402

from framewire.v1 import commands_pb2, gateway_pb2, gateway_pb2_grpc, results_pb2  # noqa: E402
from framewire.v1 import supplier_pb2, supplier_pb2_grpc  # noqa: E402

# Picked once per process and sent with every subscription (SubscribeRequest.instance_id).
INSTANCE_ID = uuid.uuid4().hex
# Frames up to 64 MiB, as the TypeScript frame client accepts.
MAX_RECEIVE_MESSAGE_BYTES = 64 * 1024 * 1024
# A pool member's largest batch: the supplier's default FW_SUPPLIER_MAX_POOL_CREDITS. The supplier
# ignores credits beyond its bound, and this client grants again only once every credit it granted
# brought a frame, so --batch must not exceed the bound of the supplier it talks to.
MAX_BATCH = 16
POOL_MODES = {"shared": supplier_pb2.POOL_MODE_SHARED, "sticky": supplier_pb2.POOL_MODE_STICKY}
KINDS = {
    "keypoints": results_pb2.RESULT_KIND_KEYPOINTS,
    "segmentation": results_pb2.RESULT_KIND_SEGMENTATION,
    "detections": results_pb2.RESULT_KIND_DETECTIONS,
    "tracks": results_pb2.RESULT_KIND_TRACKS,
    "stage": results_pb2.RESULT_KIND_STAGE,
}


def now_us():
    return time.time_ns() // 1000


def token_metadata(token):
    """The bearer token the gateway and the supplier require for every call but health and stats (when they have one)."""
    return [("authorization", "Bearer " + token)] if token else []


def jpeg_size(data):
    """(width, height) from a JPEG's frame header (SOF marker), without decoding; None if absent."""
    if len(data) < 4 or data[0] != 0xFF or data[1] != 0xD8:
        return None
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # standalone markers
            i += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image, or scan data before any frame header
            return None
        length = (data[i + 2] << 8) | data[i + 3]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            if i + 9 > len(data):
                return None
            return (data[i + 7] << 8) | data[i + 8], (data[i + 5] << 8) | data[i + 6]
        i += 2 + length
    return None


def analyse(frame):
    """Something simple but real: the JPEG's own size as one whole-frame detection, labelled with
    the frame's byte size. Replace with your model."""
    size = jpeg_size(frame.data) or (frame.width, frame.height)
    detection = results_pb2.Detection(
        box=results_pb2.Box(x=0, y=0, width=size[0], height=size[1]),
        score=1.0,
        class_id=0,
        label="jpeg %d bytes" % len(frame.data),
    )
    return results_pb2.Detections(detections=[detection])


def analyse_batch(frames):
    """One Detections per frame, in order. A batch holds frames of distinct streams (frame.stream_id
    says which); replace with one batched call of your model."""
    return [analyse(frame) for frame in frames]


class ResultPublisher:
    """One client-streaming PublishResults call fed from a bounded queue by a background thread.
    publish() never blocks: when the queue is full the oldest result is dropped and counted."""

    def __init__(self, channel, token, max_queued=256):
        self._stub = gateway_pb2_grpc.ResultHubStub(channel)
        self._queue = queue.Queue(maxsize=max_queued)
        self._metadata = token_metadata(token)
        self.dropped = 0
        self.response = None
        self.error = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _requests(self):
        for result in iter(self._queue.get, None):
            yield gateway_pb2.PublishResultsRequest(result=result)

    def _run(self):
        try:
            self.response = self._stub.PublishResults(self._requests(), metadata=self._metadata)
        except grpc.RpcError as err:
            self.error = err

    def publish(self, result):
        while True:
            try:
                self._queue.put_nowait(result)
                return
            except queue.Full:
                try:
                    self._queue.get_nowait()
                    self.dropped += 1
                except queue.Empty:
                    pass

    def close(self, timeout=5.0):
        """Ends the call after the queued results; returns the gateway's results_received."""
        self._queue.put(None)
        self._thread.join(timeout)
        if self.error is not None:
            raise self.error
        return self.response.results_received if self.response is not None else 0


def subscribe_request(args):
    """The first message of the Pull call: one stream (broadcast: every frame this worker can take),
    or, with --pool, a pool member's streams (each frame of them goes to one member of the pool)."""
    # instance_id: this process's private key, so the supplier tells a reconnect of this worker
    # from another process with the same worker id (docs/supplier.md, "Worker ids and instances").
    request = supplier_pb2.SubscribeRequest(worker_id=args.worker_id, prefer_shared_memory=False, instance_id=INSTANCE_ID)
    if args.pool:
        request.pool_id = args.pool
        request.pool_mode = POOL_MODES[args.pool_mode]
    if args.all_streams:
        request.all_streams = True
    elif args.streams:
        request.stream_ids.extend(args.streams)
    else:
        request.stream_id = args.stream
    return request


def run_worker(args):
    """Pull frames with credits (docs/frame-path.md), analyse each batch, publish one result per frame.
    It grants --batch credits only when every credit granted before brought its frame: the supplier
    then sends at once a batch of the newest pending frames of up to that many distinct streams
    (Delivery.batch_remaining counts down to 0 on its last frame), and credits left over bring each
    later frame as it comes. With --batch 1, one credit per frame, granted when ready for the next."""
    supplier = grpc.insecure_channel(args.supplier, options=[("grpc.max_receive_message_length", MAX_RECEIVE_MESSAGE_BYTES)])
    gateway = grpc.insecure_channel(args.gateway)
    publisher = ResultPublisher(gateway, args.token)
    requests = queue.Queue()
    requests.put(supplier_pb2.PullRequest(subscribe=subscribe_request(args)))
    requests.put(supplier_pb2.PullRequest(credits=args.batch))
    outstanding = args.batch
    call = supplier_pb2_grpc.FrameSupplierStub(supplier).Pull(iter(requests.get, None), metadata=token_metadata(args.token))
    frames = 0
    batches = 0
    batch = []
    status = 0
    try:
        for response in call:
            delivery = response.delivery
            outstanding -= 1
            if delivery.frame.data:  # else a shared-memory reference: this client asked for bytes
                batch.append(delivery)
            if delivery.batch_remaining > 0:
                continue  # the rest of the batch is in the next messages
            if batch:
                publish_batch(publisher, args.worker_id, batch, args.sleep_ms)
                frames += len(batch)
                batches += 1
                if args.print_batches:
                    print(json.dumps({"batch": [delivery_json(d) for d in batch]}), flush=True)
                batch = []
            if args.frames and frames >= args.frames:
                break
            if outstanding == 0:  # ask for the next batch only now
                requests.put(supplier_pb2.PullRequest(credits=args.batch))
                outstanding = args.batch
    except grpc.RpcError as err:
        print("worker: %s: %s" % (err.code().name, err.details()), file=sys.stderr)
        status = 1
    except KeyboardInterrupt:
        pass
    finally:
        call.cancel()
        requests.put(None)
    try:
        received = publisher.close()
    except grpc.RpcError as err:
        print("worker: results: %s: %s" % (err.code().name, err.details()), file=sys.stderr)
        received, status = 0, 1
    print(json.dumps({"worker_id": args.worker_id, "frames": frames, "batches": batches, "results_received": received, "dropped": publisher.dropped}), flush=True)
    supplier.close()
    gateway.close()
    return status


def publish_batch(publisher, worker_id, deliveries, sleep_ms=0):
    """Analyses the frames of a batch together and publishes one Result per frame, on its own stream."""
    started = time.perf_counter()
    detections = analyse_batch([d.frame for d in deliveries])
    time.sleep(sleep_ms / 1000)
    processing_us = int((time.perf_counter() - started) * 1e6)  # the whole batch's
    for delivery, found in zip(deliveries, detections):
        frame = delivery.frame
        publisher.publish(results_pb2.Result(
            stream_id=frame.stream_id,
            frame_sequence=frame.sequence,
            capture_time_us=frame.capture_time_us,
            worker_id=worker_id,
            processing_us=processing_us,
            published_time_us=now_us(),
            detections=found,
        ))


def delivery_json(delivery):
    return {
        "stream_id": delivery.frame.stream_id,
        "sequence": delivery.frame.sequence,
        "pool_id": delivery.pool_id,
        "dropped_since_last": delivery.dropped_since_last,
    }


class Consumer:
    """Reads results from the gateway and sends it commands."""

    def __init__(self, address, token=None):
        self.channel = grpc.insecure_channel(address)
        self.results = gateway_pb2_grpc.ResultHubStub(self.channel)
        self.commands = gateway_pb2_grpc.CommandRouterStub(self.channel)
        self.token = token

    def subscribe(self, stream_id="", worker_id="", kinds=()):
        """Live results matching the filter (empty = all), as a cancellable iterator of Result."""
        request = gateway_pb2.SubscribeResultsRequest(stream_id=stream_id, worker_id=worker_id, kinds=list(kinds))
        return self.results.SubscribeResults(request, metadata=token_metadata(self.token))

    def send_command(self, target, command_type, payload=None, request_id=None, timeout_ms=5000):
        """Sends a command and returns its acknowledgement (a CommandAck)."""
        command = commands_pb2.Command(
            request_id=request_id or "py-" + uuid.uuid4().hex,
            target=target,
            type=command_type,
            payload_json=json.dumps(payload) if payload is not None else "",
            timeout_ms=timeout_ms,
        )
        response = self.commands.SendCommand(
            gateway_pb2.SendCommandRequest(command=command),
            metadata=token_metadata(self.token),
            timeout=timeout_ms / 1000 + 5,
        )
        return response.ack


def result_json(result):
    kind = result.WhichOneof("payload")
    fields = json_format.MessageToDict(result, preserving_proto_field_name=True)
    fields["kind"] = kind
    return json.dumps(fields, sort_keys=True)


def run_consume(args):
    consumer = Consumer(args.gateway, args.token)
    kinds = [KINDS[k] for k in args.kinds.split(",")] if args.kinds else []
    stream = consumer.subscribe(args.stream, args.worker_id, kinds)
    deadline = threading.Timer(args.timeout, stream.cancel) if args.timeout else None
    if deadline:
        deadline.start()
    count = 0
    try:
        for response in stream:
            print(result_json(response.result), flush=True)
            count += 1
            if args.count and count >= args.count:
                break
    except grpc.RpcError as err:
        if err.code() != grpc.StatusCode.CANCELLED:
            print("consume: %s: %s" % (err.code().name, err.details()), file=sys.stderr)
            return 1
    except KeyboardInterrupt:
        pass
    finally:
        stream.cancel()
        if deadline:
            deadline.cancel()
    return 0 if not args.count or count >= args.count else 1


def run_command(args):
    consumer = Consumer(args.gateway, args.token)
    payload = json.loads(args.payload) if args.payload else None
    try:
        ack = consumer.send_command(args.target, args.type, payload, args.request_id, args.timeout_ms)
    except grpc.RpcError as err:
        print("command: %s: %s" % (err.code().name, err.details()), file=sys.stderr)
        return 1
    print(json.dumps({
        "request_id": ack.request_id,
        "status": commands_pb2.AckStatus.Name(ack.status),
        "message": ack.message,
        "responder": ack.responder,
        "latency_us": ack.latency_us,
    }), flush=True)
    return 0 if ack.status == commands_pb2.ACK_STATUS_SUCCESS else 2


def stream_list(text):
    streams = [s.strip() for s in text.split(",") if s.strip()]
    if not streams:
        raise argparse.ArgumentTypeError("--streams %r names no stream" % text)
    return streams


def check_worker_args(parser, args):
    """The pool options need --pool (the supplier would refuse them, naming the field); --batch is bounded."""
    if not args.pool:
        for flag, given in (("--streams", args.streams), ("--all-streams", args.all_streams), ("--pool-mode", args.pool_mode), ("--batch", args.batch != 1)):
            if given:
                parser.error("%s needs --pool: a worker of several streams or batches joins a pool (a pool of one member is fine)" % flag)
    if not 1 <= args.batch <= MAX_BATCH:
        parser.error("--batch %d is not in 1..%d (the supplier's default FW_SUPPLIER_MAX_POOL_CREDITS)" % (args.batch, MAX_BATCH))
    if args.pool_mode is None:
        args.pool_mode = "shared"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--token", default=os.environ.get("FW_AUTH_TOKEN"), help="bearer token (default: $FW_AUTH_TOKEN)")
    sub = parser.add_subparsers(dest="mode", required=True)

    worker = sub.add_parser("worker", help="pull frames, publish results")
    worker.add_argument("--supplier", default="127.0.0.1:50052")
    worker.add_argument("--gateway", default="127.0.0.1:50054")
    worker.add_argument("--worker-id", default="py-worker-1")
    streams = worker.add_mutually_exclusive_group()
    streams.add_argument("--stream", default="cam-1", help="the one stream to receive (default cam-1)")
    streams.add_argument("--streams", type=stream_list, default=[], help="pools: the streams this member serves, comma-separated")
    streams.add_argument("--all-streams", action="store_true", help="pools: serve every stream, including streams that appear later")
    worker.add_argument("--pool", default="", help="join this worker pool: each frame goes to one member of the pool")
    worker.add_argument("--pool-mode", choices=sorted(POOL_MODES), default=None,
                        help="shared (default): any member takes the next frame; sticky: each stream has one member")
    worker.add_argument("--batch", type=int, default=1, help="pools: frames of distinct streams per batch, 1-%d (default 1)" % MAX_BATCH)
    worker.add_argument("--frames", type=int, default=0, help="stop after this many frames, or the batch that reaches it (0: run until Ctrl-C)")
    worker.add_argument("--sleep-ms", type=float, default=0, help="sleep this long per batch, as a slow model would (to watch pools and batches)")
    worker.add_argument("--print-batches", action="store_true", help="print each batch as a JSON line: stream, sequence, pool, drops")

    consume = sub.add_parser("consume", help="print live results, one JSON object per line")
    consume.add_argument("--gateway", default="127.0.0.1:50054")
    consume.add_argument("--stream", default="")
    consume.add_argument("--worker-id", default="")
    consume.add_argument("--kinds", default="", help="comma-separated: " + ",".join(KINDS))
    consume.add_argument("--count", type=int, default=0, help="stop after this many results (0: run until Ctrl-C)")
    consume.add_argument("--timeout", type=float, default=0, help="give up after this many seconds (0: never)")

    command = sub.add_parser("command", help="send a command, print its acknowledgement")
    command.add_argument("--gateway", default="127.0.0.1:50054")
    command.add_argument("--target", required=True, help='service instance, e.g. "worker-1" or "capture"')
    command.add_argument("--type", required=True, help='e.g. "worker.set_fps"')
    command.add_argument("--payload", default="", help="JSON object")
    command.add_argument("--request-id", default=None)
    command.add_argument("--timeout-ms", type=int, default=5000)

    args = parser.parse_args(argv)
    if args.mode == "worker":
        check_worker_args(parser, args)
    return {"worker": run_worker, "consume": run_consume, "command": run_command}[args.mode](args)


if __name__ == "__main__":
    sys.exit(main())
