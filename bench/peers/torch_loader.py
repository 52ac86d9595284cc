#!/usr/bin/env python3
"""PyTorch's DataLoader over the peer benchmark's files: the contender rxfeed is measured against.

Run by Debian's /usr/bin/python3 (python3-torch, python3-numpy, python3-pil, python3-protobuf,
python3-crcmod; scripts/setup-torch-peer.sh installs them) from bench/peers/index.ts:

    torch_loader.py PIPELINE NUM_WORKERS FILE...

PIPELINE is one of
  tar          WebDataset tar shards, no decode: {jpg: bytes, cls: int} samples;
  tar-decode   the same, each JPEG decoded by PIL to an HxWx3 uint8 tensor after the shuffle;
  tfrecord     TFRecord shards: both masked CRC32Cs of every record checked (crcmod's C
               extension), each record parsed as a tf.train.Example with Google's protobuf
               runtime (C++ implementation), {jpg: bytes, cls: int} samples.
Each pipeline: an IterableDataset that gives each loading worker whole files
(files[worker::num_workers], as WebDataset's split_by_worker), a 1000-sample shuffle buffer per
worker (WebDataset's shuffle(1000)), then the DataLoader's batch_size=64 and default_collate (in
the worker): jpg as a list of bytes or a uint8 tensor [B, H, W, 3], cls as an int64 tensor [B].

NUM_WORKERS 0 reads in this process; above 0 the workers are persistent, with the 'file_system'
sharing strategy. One epoch is read untimed first (it starts the workers and warms the page cache
and the code), then the second epoch is timed: from asking the DataLoader for an iterator to the
last batch. Prints one JSON line: {"items", "batches", "seconds", "crc32c", "protobuf"}.
"""
import io
import json
import random
import struct
import sys
import tarfile
import time

import numpy as np
import torch
import torch.multiprocessing
from PIL import Image
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

SHUFFLE = 1000
BATCH = 64
SIZE = 128


def _crc32c_function():
    import crcmod.predefined

    extension = sys.modules["crcmod.crcmod"]._usingExtension
    return crcmod.predefined.mkPredefinedCrcFun("crc-32c"), "crcmod %s" % ("C extension" if extension else "pure Python")


def _masked(crc):
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def _example_class():
    """tf.train.Example declared from tensorflow/core/example/{feature,example}.proto (no TensorFlow here)."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
    from google.protobuf.internal import api_implementation

    T = descriptor_pb2.FieldDescriptorProto
    fd = descriptor_pb2.FileDescriptorProto(name="rxfeed_bench/example.proto", package="tensorflow", syntax="proto3")

    def field(message, name, number, ftype, label=T.LABEL_OPTIONAL, type_name=None, packed=False):
        f = message.field.add(name=name, number=number, type=ftype, label=label)
        if type_name:
            f.type_name = type_name
        if packed:
            f.options.packed = True
        return f

    m = fd.message_type.add(name="BytesList")
    field(m, "value", 1, T.TYPE_BYTES, T.LABEL_REPEATED)
    m = fd.message_type.add(name="FloatList")
    field(m, "value", 1, T.TYPE_FLOAT, T.LABEL_REPEATED, packed=True)
    m = fd.message_type.add(name="Int64List")
    field(m, "value", 1, T.TYPE_INT64, T.LABEL_REPEATED, packed=True)
    m = fd.message_type.add(name="Feature")
    m.oneof_decl.add(name="kind")
    for name, number, type_name in (("bytes_list", 1, ".tensorflow.BytesList"), ("float_list", 2, ".tensorflow.FloatList"),
                                    ("int64_list", 3, ".tensorflow.Int64List")):
        field(m, name, number, T.TYPE_MESSAGE, type_name=type_name).oneof_index = 0
    m = fd.message_type.add(name="Features")
    entry = m.nested_type.add(name="FeatureEntry")
    entry.options.map_entry = True
    field(entry, "key", 1, T.TYPE_STRING)
    field(entry, "value", 2, T.TYPE_MESSAGE, type_name=".tensorflow.Feature")
    field(m, "feature", 1, T.TYPE_MESSAGE, T.LABEL_REPEATED, ".tensorflow.Features.FeatureEntry")
    m = fd.message_type.add(name="Example")
    field(m, "features", 1, T.TYPE_MESSAGE, type_name=".tensorflow.Features")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fd)
    desc = pool.FindMessageTypeByName("tensorflow.Example")
    get_class = getattr(message_factory, "GetMessageClass", None)
    cls = get_class(desc) if get_class is not None else message_factory.MessageFactory(pool).GetPrototype(desc)
    return cls, "protobuf %s (%s)" % (__import__("google.protobuf").protobuf.__version__, api_implementation.Type())


def tar_samples(path):
    """Samples of one tar shard read as a stream (tarfile 'r|', as WebDataset), members grouped by key."""
    sample, key = None, None
    with open(path, "rb") as stream, tarfile.open(fileobj=stream, mode="r|") as archive:
        for member in archive:
            if not member.isreg():
                continue
            stem, _, extension = member.name.rpartition("/")[2].partition(".")
            if stem != key:
                if sample is not None:
                    yield sample
                sample, key = {}, stem
            sample[extension] = archive.extractfile(member).read()
    if sample is not None:
        yield sample


def tfrecord_records(path, crc32c):
    """Records of one TFRecord file, both masked CRC32Cs checked."""
    with open(path, "rb", buffering=1 << 20) as f:
        while True:
            header = f.read(12)
            if not header:
                return
            if len(header) != 12:
                raise ValueError("%s: truncated header" % path)
            length, length_crc = struct.unpack("<QI", header)
            if _masked(crc32c(header[:8])) != length_crc:
                raise ValueError("%s: length CRC mismatch" % path)
            body = f.read(length + 4)
            if len(body) != length + 4:
                raise ValueError("%s: truncated record" % path)
            data = body[:length]
            if _masked(crc32c(data)) != struct.unpack("<I", body[length:])[0]:
                raise ValueError("%s: data CRC mismatch" % path)
            yield data


def shuffled(samples, rng):
    """WebDataset's shuffle(1000): a buffer of 1000 samples; each arriving one replaces a random one, which goes out."""
    buffer = []
    for sample in samples:
        if len(buffer) < SHUFFLE:
            buffer.append(sample)
            continue
        at = rng.randrange(SHUFFLE)
        out, buffer[at] = buffer[at], sample
        yield out
    rng.shuffle(buffer)
    yield from buffer


def decode_jpeg(data):
    image = Image.open(io.BytesIO(data))
    if image.mode != "RGB":
        image = image.convert("RGB")
    return torch.from_numpy(np.array(image))  # HxWx3 uint8, its own memory


class PeerDataset(IterableDataset):
    def __init__(self, pipeline, files):
        self.pipeline = pipeline
        self.files = files
        self.epoch = 0

    def _samples(self, files):
        if self.pipeline == "tfrecord":
            crc32c, _ = _crc32c_function()
            Example, _ = _example_class()
            for path in files:
                for record in tfrecord_records(path, crc32c):
                    example = Example()
                    example.ParseFromString(record)
                    feature = example.features.feature
                    yield {"jpg": feature["image/encoded"].bytes_list.value[0], "cls": feature["image/class/label"].int64_list.value[0]}
        else:
            for path in files:
                for sample in tar_samples(path):
                    yield {"jpg": sample["jpg"], "cls": int(sample["cls"])}

    def __iter__(self):
        info = get_worker_info()
        files = self.files if info is None else self.files[info.id::info.num_workers]
        seed = torch.initial_seed() if info is None else info.seed
        samples = shuffled(self._samples(files), random.Random(seed))
        if self.pipeline == "tar-decode":
            return ({"jpg": decode_jpeg(s["jpg"]), "cls": s["cls"]} for s in samples)
        return samples


def check(batch, decoded):
    """The batch has the structure both sides make (see pipelines.ts), or the run fails."""
    rows = len(batch["cls"])
    jpg = batch["jpg"]
    ok = batch["cls"].dtype == torch.int64 and tuple(batch["cls"].shape) == (rows,)
    if decoded:
        ok = ok and jpg.dtype == torch.uint8 and tuple(jpg.shape) == (rows, SIZE, SIZE, 3)
    else:
        ok = ok and isinstance(jpg, list) and len(jpg) == rows and isinstance(jpg[0], bytes)
    if not ok:
        raise SystemExit("unexpected batch: jpg %s, cls %s" % (getattr(jpg, "shape", type(jpg)), batch["cls"].shape))
    return rows


def read_epoch(loader, decoded):
    items = batches = 0
    for batch in loader:
        items += check(batch, decoded)
        batches += 1
    return items, batches


def main():
    pipeline, workers, files = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    if pipeline not in ("tar", "tar-decode", "tfrecord"):
        raise SystemExit("unknown pipeline %r" % pipeline)
    torch.multiprocessing.set_sharing_strategy("file_system")
    loader = DataLoader(PeerDataset(pipeline, files), batch_size=BATCH, num_workers=workers, persistent_workers=workers > 0)
    decoded = pipeline == "tar-decode"
    read_epoch(loader, decoded)  # untimed: starts the workers, warms the page cache
    start = time.perf_counter()
    items, batches = read_epoch(loader, decoded)
    seconds = time.perf_counter() - start
    out = {"items": items, "batches": batches, "seconds": seconds, "torch": torch.__version__}
    if pipeline == "tfrecord":
        out["crc32c"] = _crc32c_function()[1]
        out["protobuf"] = _example_class()[1]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
