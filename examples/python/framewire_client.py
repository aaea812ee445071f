#!/usr/bin/python3
"""A framewire client in Python on the framewire package (clients/python): a worker (Pull frames from
the supplier, alone or as a member of a worker pool, publish results to the gateway) and a consumer
(subscribe to results, send commands). Your model goes in analyse() or analyse_batch().

    /usr/bin/python3 framewire_client.py worker  --supplier 127.0.0.1:50052 --gateway 127.0.0.1:50054
    /usr/bin/python3 framewire_client.py worker  --pool detectors --streams cam-1,cam-2 --batch 2
    /usr/bin/python3 framewire_client.py consume --gateway 127.0.0.1:50054 --worker-id py-worker-1
    /usr/bin/python3 framewire_client.py command --gateway 127.0.0.1:50054 --target worker-1 \\
        --type worker.set_fps --payload '{"fps": 5}'
"""
import argparse
import json
import os
import signal
import sys
import threading
import time

try:
    import framewire
except ImportError:  # not installed (docs/python.md): the package of this checkout
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "clients", "python"))
    import framewire

import grpc  # noqa: E402
from google.protobuf import json_format  # noqa: E402

from framewire.v1 import commands_pb2, results_pb2  # noqa: E402
from framewire.worker import MAX_BATCH, POOL_MODES  # noqa: E402
from framewire.clients import KINDS  # noqa: E402

# The gateway client of this example's consumer and command modes (the name the benchmarks import).
Consumer = framewire.GatewayClient


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


def run_worker(args):
    """framewire.Worker around analyse_batch: Pull with credits (docs/frame-path.md), one Result per
    frame, a bounded reconnecting publisher. With --pool and --batch K it grants K credits only when
    every credit granted before brought its frame (docs/python.md, "Join a pool")."""
    def analyse_slowly(frames):
        found = analyse_batch(frames)
        time.sleep(args.sleep_ms / 1000)
        return found

    def print_batch(deliveries):
        print(json.dumps({"batch": [delivery_json(d) for d in deliveries]}), flush=True)

    subscription = {"all_streams": True} if args.all_streams else {"streams": args.streams} if args.streams else {"stream": args.stream}
    worker = framewire.Worker(
        analyze_batch=analyse_slowly, worker_id=args.worker_id, supplier=args.supplier, gateway=args.gateway,
        pool=args.pool or None, pool_mode=args.pool_mode, batch=args.batch, token=args.token, root_cert=args.root_cert,
        observe=print_batch if args.print_batches else None, **subscription)
    signal.signal(signal.SIGTERM, lambda *_: worker.stop())
    status = 0
    try:
        worker.run(args.frames)
    except framewire.WorkerError as err:
        print("worker: %s: %s" % (err.code.name, err.details) if err.code else "worker: %s" % err, file=sys.stderr)
        status = 1
    except KeyboardInterrupt:
        worker.stop()
    stats = worker.stats
    print(json.dumps({"worker_id": args.worker_id, "frames": stats.frames, "batches": stats.batches,
                      "results_received": worker.publisher.stats.delivered, "dropped": worker.publisher.stats.dropped_oldest}), flush=True)
    return status


def delivery_json(delivery):
    return {
        "stream_id": delivery.frame.stream_id,
        "sequence": delivery.frame.sequence,
        "pool_id": delivery.pool_id,
        "dropped_since_last": delivery.dropped_since_last,
    }


def result_json(result):
    kind = result.WhichOneof("payload")
    fields = json_format.MessageToDict(result, preserving_proto_field_name=True)
    fields["kind"] = kind
    return json.dumps(fields, sort_keys=True)


def run_consume(args):
    consumer = Consumer(args.gateway, args.token, args.root_cert)
    kinds = args.kinds.split(",") if args.kinds else []
    stream = consumer.subscribe(args.stream, args.worker_id, kinds)
    deadline = threading.Timer(args.timeout, stream.cancel) if args.timeout else None
    if deadline:
        deadline.start()
    count = 0
    try:
        for result in stream:
            print(result_json(result), flush=True)
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
    consumer = Consumer(args.gateway, args.token, args.root_cert)
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
    parser.add_argument("--root-cert", default=None, help="TLS: the PEM file of the CA that signed the services' certificates (default: plaintext)")
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
