#!/usr/bin/env python3
"""One support flow through Earshot with the stock Python gRPC client: stubs
generated from proto/ by grpcio-tools at start, then a cry for help ingested
by listening, its case found in the case service, answered, and the reply
read back; a bad request shows the status code and the field it names.

    pip install grpcio==1.68.1 grpcio-tools==1.68.1
    EARSHOT_TOKEN=... python3 scripts/grpc_flow.py [LISTENING_ADDR] [CASE_ADDR]

Defaults: 127.0.0.1:50051 and 127.0.0.1:50052 (`earshot up`). Exits 1 on
any failure. `tests/e2e/tests/python_client.rs` runs it against the suite.
"""
import os
import sys
import tempfile
import time
from pathlib import Path

import grpc
import grpc_tools
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent


def generate_stubs() -> None:
    """Python modules for every proto of the repository, in a temporary folder."""
    out = tempfile.mkdtemp(prefix="earshot-stubs-")
    include = Path(grpc_tools.__file__).parent / "_proto"
    protos = sorted(str(p.relative_to(ROOT / "proto")) for p in (ROOT / "proto").rglob("*.proto"))
    args = ["protoc", f"-I{ROOT / 'proto'}", f"-I{include}", f"--python_out={out}",
            f"--grpc_python_out={out}", *protos]
    if protoc.main(args) != 0:
        sys.exit("protoc could not compile proto/")
    sys.path.insert(0, out)


def main() -> int:
    listening_addr = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:50051"
    case_addr = sys.argv[2] if len(sys.argv) > 2 else "127.0.0.1:50052"
    token = os.environ.get("EARSHOT_TOKEN") or sys.exit("EARSHOT_TOKEN is not set")
    generate_stubs()
    from earshot.case.v1 import case_service_pb2 as case_pb
    from earshot.case.v1 import case_service_pb2_grpc as case_grpc
    from earshot.common.v1 import common_pb2
    from earshot.listening.v1 import listening_service_pb2 as listening_pb
    from earshot.listening.v1 import listening_service_pb2_grpc as listening_grpc

    auth = [("authorization", f"Bearer {token}")]
    listening = listening_grpc.ListeningServiceStub(grpc.insecure_channel(listening_addr))
    cases = case_grpc.CaseServiceStub(grpc.insecure_channel(case_addr))

    posted_at = Timestamp()
    posted_at.GetCurrentTime()
    heard = listening.IngestMentions(listening_pb.IngestMentionsRequest(mentions=[
        listening_pb.MentionInput(
            source="x", external_id="python-1", channel=common_pb2.CHANNEL_X, public=True,
            author=common_pb2.Author(external_id="python-author-1", handle="py_jane",
                                     display_name="Jane"),
            text="@acme my new card still has not arrived after two weeks, can you help?",
            language="en", thread_key="x:python-1", posted_at=posted_at),
    ]), metadata=auth, timeout=10)
    assert heard.accepted == 1, heard
    mention_id = heard.results[0].mention_id

    deadline = time.monotonic() + 60
    found = []
    while not found and time.monotonic() < deadline:
        found = list(cases.ListCases(case_pb.ListCasesRequest(), metadata=auth, timeout=10).cases)
        if not found:
            time.sleep(0.05)
    assert found, "the mention opened no case within a minute"
    case = found[0]

    body = ("Hi Jane, your card left us on Monday by tracked mail; if it is not with you "
            "by Friday we will send another by courier.")
    sent = cases.SendReply(case_pb.SendReplyRequest(
        request_id="python-reply-1", case_id=case.case_id, version=case.version, body=body,
        public=True), metadata=auth, timeout=10)
    messages = cases.ListCaseMessages(case_pb.ListCaseMessagesRequest(case_id=case.case_id),
                                      metadata=auth, timeout=10).messages
    assert any(m.body == body and m.message_id == sent.reply.message_id for m in messages), messages

    try:
        cases.GetCase(case_pb.GetCaseRequest(case_id="not-a-uuid"), metadata=auth, timeout=10)
        raise AssertionError("a bad case id was accepted")
    except grpc.RpcError as error:
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error
        refusal = error.details()
        assert "case_id" in refusal, refusal

    print(f"python grpcio: mention {mention_id} opened case {case.case_id}; "
          f"reply {sent.reply.message_id} read back; a bad case id is "
          f"INVALID_ARGUMENT ({refusal})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
