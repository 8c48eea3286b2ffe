"""Our .proto files compile to the same wire schema as the SDK's descriptors."""
import json
import pathlib
import subprocess

import pytest
from protobuf.wkt.google.protobuf.descriptor_pb import FileDescriptorSet

from e2b.envd.filesystem import filesystem_pb
from e2b.envd.process import process_pb

PROTO_ROOT = pathlib.Path(__file__).resolve().parents[2] / "crates" / "wrenn-proto" / "proto"


def _ours(tmp_path):
    out = tmp_path / "set.pb"
    subprocess.run(
        ["protoc", f"-I{PROTO_ROOT}", f"--descriptor_set_out={out}",
         "process/process.proto", "filesystem/filesystem.proto"],
        check=True,
    )
    files = FileDescriptorSet.from_binary(out.read_bytes()).file
    return {f.name: json.loads(f.to_json()) for f in files}


def _wire(desc):
    """What decides the wire: names, numbers, types, labels, oneofs, streams."""
    def message(m):
        oneofs = [o["name"] for o in m.get("oneofDecl", [])]
        return {
            "name": m["name"],
            "fields": sorted(
                (f["number"], f["name"], f.get("label"), f.get("type"), f.get("typeName", ""),
                 oneofs[f["oneofIndex"]] if "oneofIndex" in f else None,
                 bool(f.get("proto3Optional", False)), f.get("jsonName"))
                for f in m.get("field", [])
            ),
            "nested": sorted((message(n) for n in m.get("nestedType", [])), key=lambda x: x["name"]),
            "enums": sorted((enum(e) for e in m.get("enumType", [])), key=lambda x: x[0]),
            "map_entry": bool(m.get("options", {}).get("mapEntry", False)),
        }

    def enum(e):
        return (e["name"], sorted((v["name"], v.get("number", 0)) for v in e.get("value", [])))

    return {
        "package": desc.get("package"),
        "dependencies": sorted(desc.get("dependency", [])),
        "messages": sorted((message(m) for m in desc.get("messageType", [])), key=lambda x: x["name"]),
        "enums": sorted((enum(e) for e in desc.get("enumType", [])), key=lambda x: x[0]),
        "services": sorted(
            (s["name"], sorted(
                (m["name"], m["inputType"], m["outputType"],
                 bool(m.get("clientStreaming", False)), bool(m.get("serverStreaming", False)))
                for m in s.get("method", [])))
            for s in desc.get("service", [])
        ),
    }


@pytest.mark.parametrize("module", [process_pb, filesystem_pb], ids=["process", "filesystem"])
def test_descriptor_matches_sdk(module, tmp_path):
    sdk = json.loads(module._DESC.proto.to_json())
    ours = _ours(tmp_path)[sdk["name"]]
    assert _wire(ours) == _wire(sdk)
