#!/usr/bin/env python3
"""Independent TFRecord reader for rxfeed's integration specs.

Reads TFRecord framing, checks both masked CRC32C values with its own table CRC (no shared code
with rxfeed), and parses each record as tf.train.Example or tf.train.SequenceExample with Google's
protobuf runtime (Debian's python3-protobuf), the message types being declared here from
tensorflow/core/example/{feature,example}.proto. Prints one JSON document on stdout.

Usage: read_tfrecord.py (example|sequence|images) FILE...

`images` decodes every JPEG/PNG value of every bytes feature with Pillow (libjpeg / libpng) and
prints the SHA-256 of its RGB pixels, per record and feature.
"""
import base64
import hashlib
import io
import json
import struct
import sys

from google.protobuf import descriptor_pb2, descriptor_pool

try:
    from google.protobuf import message_factory
    _get_class = getattr(message_factory, "GetMessageClass", None)
except ImportError:  # pragma: no cover
    _get_class = None


def _crc_table():
    poly = 0x82F63B78
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc_table()


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = _TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def masked(data):
    c = crc32c(data)
    return ((((c >> 15) | (c << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def _field(msg, name, number, ftype, label=1, type_name=None, packed=False):
    f = msg.field.add()
    f.name = name
    f.number = number
    f.type = ftype
    f.label = label
    if type_name:
        f.type_name = type_name
    if packed:
        f.options.packed = True
    return f


def _map_entry(msg, entry_name, value_type):
    entry = msg.nested_type.add()
    entry.name = entry_name
    entry.options.map_entry = True
    T = descriptor_pb2.FieldDescriptorProto
    _field(entry, "key", 1, T.TYPE_STRING)
    _field(entry, "value", 2, T.TYPE_MESSAGE, type_name=value_type)


def _build_pool():
    T = descriptor_pb2.FieldDescriptorProto
    REP = T.LABEL_REPEATED
    fd = descriptor_pb2.FileDescriptorProto()
    fd.name = "rxfeed_spec/example.proto"
    fd.package = "tensorflow"
    fd.syntax = "proto3"

    m = fd.message_type.add(); m.name = "BytesList"
    _field(m, "value", 1, T.TYPE_BYTES, REP)
    m = fd.message_type.add(); m.name = "FloatList"
    _field(m, "value", 1, T.TYPE_FLOAT, REP, packed=True)
    m = fd.message_type.add(); m.name = "Int64List"
    _field(m, "value", 1, T.TYPE_INT64, REP, packed=True)

    m = fd.message_type.add(); m.name = "Feature"
    m.oneof_decl.add().name = "kind"
    for name, num, tn in (("bytes_list", 1, ".tensorflow.BytesList"),
                          ("float_list", 2, ".tensorflow.FloatList"),
                          ("int64_list", 3, ".tensorflow.Int64List")):
        f = _field(m, name, num, T.TYPE_MESSAGE, type_name=tn)
        f.oneof_index = 0

    m = fd.message_type.add(); m.name = "Features"
    _map_entry(m, "FeatureEntry", ".tensorflow.Feature")
    _field(m, "feature", 1, T.TYPE_MESSAGE, REP, ".tensorflow.Features.FeatureEntry")

    m = fd.message_type.add(); m.name = "FeatureList"
    _field(m, "feature", 1, T.TYPE_MESSAGE, REP, ".tensorflow.Feature")

    m = fd.message_type.add(); m.name = "FeatureLists"
    _map_entry(m, "FeatureListEntry", ".tensorflow.FeatureList")
    _field(m, "feature_list", 1, T.TYPE_MESSAGE, REP, ".tensorflow.FeatureLists.FeatureListEntry")

    m = fd.message_type.add(); m.name = "Example"
    _field(m, "features", 1, T.TYPE_MESSAGE, type_name=".tensorflow.Features")

    m = fd.message_type.add(); m.name = "SequenceExample"
    _field(m, "context", 1, T.TYPE_MESSAGE, type_name=".tensorflow.Features")
    _field(m, "feature_lists", 2, T.TYPE_MESSAGE, type_name=".tensorflow.FeatureLists")

    pool = descriptor_pool.DescriptorPool()
    pool.Add(fd)
    return pool


def _message_class(pool, name):
    desc = pool.FindMessageTypeByName(name)
    if _get_class is not None:
        return _get_class(desc)
    return message_factory.MessageFactory(pool).GetPrototype(desc)  # older runtimes


def feature_json(feature):
    kind = feature.WhichOneof("kind")
    if kind == "bytes_list":
        return {"bytes": [base64.b64encode(v).decode("ascii") for v in feature.bytes_list.value]}
    if kind == "float_list":
        # The exact float32 bit patterns, so comparisons are exact.
        return {"float_bits": [struct.unpack("<I", struct.pack("<f", v))[0] for v in feature.float_list.value]}
    if kind == "int64_list":
        return {"int64": [str(v) for v in feature.int64_list.value]}
    return {"none": True}


def features_json(features):
    return {key: feature_json(features.feature[key]) for key in sorted(features.feature)}


def read_records(path):
    with open(path, "rb") as f:
        data = f.read()
    pos = 0
    while pos < len(data):
        header = data[pos:pos + 8]
        (length,) = struct.unpack("<Q", header)
        (length_crc,) = struct.unpack("<I", data[pos + 8:pos + 12])
        if masked(header) != length_crc:
            raise ValueError("%s: length crc mismatch at %d" % (path, pos))
        body = data[pos + 12:pos + 12 + length]
        (data_crc,) = struct.unpack("<I", data[pos + 12 + length:pos + 16 + length])
        if len(body) != length or masked(body) != data_crc:
            raise ValueError("%s: data crc mismatch at %d" % (path, pos))
        yield body
        pos += 16 + length


def main():
    kind = sys.argv[1]
    pool = _build_pool()
    Example = _message_class(pool, "tensorflow.Example")
    SequenceExample = _message_class(pool, "tensorflow.SequenceExample")
    out = []
    for path in sys.argv[2:]:
        records = []
        for body in read_records(path):
            if kind == "images":
                from PIL import Image  # Debian's python3-pil

                msg = Example()
                msg.ParseFromString(body)
                digests = {}
                for key in sorted(msg.features.feature):
                    feature = msg.features.feature[key]
                    if feature.WhichOneof("kind") != "bytes_list":
                        continue
                    values = list(feature.bytes_list.value)
                    if not values or not (values[0][:3] == b"\xff\xd8\xff" or values[0][:8] == b"\x89PNG\r\n\x1a\n"):
                        continue
                    digests[key] = [
                        hashlib.sha256(Image.open(io.BytesIO(v)).convert("RGB").tobytes()).hexdigest() for v in values
                    ]
                records.append(digests)
            elif kind == "example":
                msg = Example()
                msg.ParseFromString(body)
                records.append(features_json(msg.features))
            else:
                msg = SequenceExample()
                msg.ParseFromString(body)
                lists = {}
                for key in sorted(msg.feature_lists.feature_list):
                    lists[key] = [feature_json(f) for f in msg.feature_lists.feature_list[key].feature]
                records.append({"context": features_json(msg.context), "feature_lists": lists})
        out.append({"file": path, "records": records})
    json.dump(out, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
