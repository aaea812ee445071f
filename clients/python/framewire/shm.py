#!/usr/bin/env python3
"""Reads frames from a framewire shared-memory frame ring (docs/shm.md), standard library only: this
module imports nothing from the package, so it also runs as a file (tools/python/framewire_shm_reader.py).

    from framewire.shm import FrameRing
    python3 -m framewire.shm NAME --slot N [--out FILE]
    python3 -m framewire.shm NAME --latest [--out FILE]

prints the frame's metadata, its reference and the CRC-32 check as JSON. Maps /dev/shm/NAME with
mmap directly: multiprocessing.shared_memory would unlink the ring when Python exits (3.11).
"""
import argparse
import json
import mmap
import os
import struct
import sys
import zlib

SHM_DIR = "/dev/shm"
MAGIC = b"FWSHMRNG"
LAYOUT_VERSION = 1
HEADER = struct.Struct("<8sIIIIQQIIQQ16sQ")  # offsets 0..87 of the 256-byte header
SLOT_META = struct.Struct("<QQQIIIIII")  # offsets 0..47 of the 128-byte slot header
STREAM_ID_OFFSET = 48
STREAM_ID_MAX_BYTES = 80
SNAPSHOT_ATTEMPTS = 4


class RingError(Exception):
    pass


class FrameRing:
    """A read-only mapping of one ring. Python has no atomics; on x86-64 and arm64 an aligned 8-byte
    read is single-copy atomic, and the before/after sequence comparison catches any overlap."""

    def __init__(self, name):
        fd = os.open(os.path.join(SHM_DIR, name), os.O_RDONLY)
        try:
            self.map = mmap.mmap(fd, 0, prot=mmap.PROT_READ)
        finally:
            os.close(fd)
        (magic, version, header_bytes, self.slot_count, self.slot_header_bytes, self.slot_bytes,
         self.slot_stride, self.writer_pid, _pid_ns, self.heartbeat_ms, self.created_ms, token,
         _written) = HEADER.unpack_from(self.map, 0)
        if magic != MAGIC:
            raise RingError(f"/dev/shm/{name} is not a framewire ring (or is still being created)")
        if version != LAYOUT_VERSION:
            raise RingError(f"ring {name} has layout version {version}; this reader knows {LAYOUT_VERSION}")
        self.name = name
        self.header_bytes = header_bytes
        self.token = token.hex()

    def frames_written(self):
        return struct.unpack_from("<Q", self.map, 80)[0]

    def slot_offset(self, slot):
        if not 0 <= slot < self.slot_count:
            raise RingError(f"slot {slot} is outside 0..{self.slot_count - 1}")
        return self.header_bytes + slot * self.slot_stride

    def sequence(self, slot):
        return struct.unpack_from("<Q", self.map, self.slot_offset(slot))[0]

    def read_slot(self, slot):
        """Returns (meta, ref, data) of the slot's frame, or None if it stays overwritten."""
        base = self.slot_offset(slot)
        for _ in range(SNAPSHOT_ATTEMPTS):
            before = self.sequence(slot)
            if before % 2:
                continue  # being written
            (_seq, frame_sequence, capture_time_us, width, height, pixel_format, length, crc32,
             stream_id_length) = SLOT_META.unpack_from(self.map, base)
            length = min(length, self.slot_bytes)
            stream_id_length = min(stream_id_length, STREAM_ID_MAX_BYTES)
            stream_id = bytes(self.map[base + STREAM_ID_OFFSET: base + STREAM_ID_OFFSET + stream_id_length])
            payload_start = base + self.slot_header_bytes
            data = bytes(self.map[payload_start: payload_start + length])
            if self.sequence(slot) != before:
                continue  # overwritten while copying: never use the bytes
            meta = {
                "streamId": stream_id.decode("utf-8", "replace"),
                "sequence": frame_sequence,
                "captureTimeUs": capture_time_us,
                "width": width,
                "height": height,
                "pixelFormat": pixel_format,
            }
            ref = {"ringName": self.name, "slot": slot, "slotSequence": before, "crc32": crc32, "length": length}
            return meta, ref, data
        return None

    def latest_slot(self):
        written = self.frames_written()
        return None if written == 0 else (written - 1) % self.slot_count

    def close(self):
        self.map.close()


def main(argv=None):
    parser = argparse.ArgumentParser(description="Read a frame from a framewire shared-memory ring.")
    parser.add_argument("name", help="ring name (the object /dev/shm/NAME)")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--slot", type=int, help="slot index")
    which.add_argument("--latest", action="store_true", help="the newest frame")
    parser.add_argument("--out", help="write the frame's bytes to this file")
    args = parser.parse_args(argv)

    try:
        ring = FrameRing(args.name)
    except (OSError, RingError) as err:
        print(json.dumps({"error": str(err)}))
        return 2
    try:
        slot = ring.latest_slot() if args.latest else args.slot
        if slot is None:
            print(json.dumps({"error": "no frame written yet"}))
            return 1
        frame = ring.read_slot(slot)
        if frame is None:
            print(json.dumps({"error": f"slot {slot} was overwritten during every read attempt"}))
            return 1
        meta, ref, data = frame
        computed = zlib.crc32(data)
        if args.out:
            with open(args.out, "wb") as out:
                out.write(data)
        print(json.dumps({
            "token": ring.token,
            "writerPid": ring.writer_pid,
            "meta": meta,
            "ref": ref,
            "crc32Computed": computed,
            "crc32Ok": computed == ref["crc32"],
        }))
        return 0 if computed == ref["crc32"] else 1
    except RingError as err:
        print(json.dumps({"error": str(err)}))
        return 2
    finally:
        ring.close()


if __name__ == "__main__":
    sys.exit(main())
