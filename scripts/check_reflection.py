#!/usr/bin/env python3
"""Lists each Earshot service by server reflection and checks it is SERVING,
with the stock Python gRPC client (grpcio, grpcio-reflection and
grpcio-health-checking; their reflection client speaks v1alpha).

    pip install grpcio grpcio-reflection grpcio-health-checking
    python3 scripts/check_reflection.py [host]    # default 127.0.0.1, ports 50051-50054
"""
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

SERVICES = {
    50051: "earshot.listening.v1.ListeningService",
    50052: "earshot.case.v1.CaseService",
    50053: "earshot.escalation.v1.EscalationService",
    50054: "earshot.insight.v1.InsightService",
}


def main() -> int:
    host = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
    failures = 0
    for port, expected in SERVICES.items():
        with grpc.insecure_channel(f"{host}:{port}") as channel:
            stub = reflection_pb2_grpc.ServerReflectionStub(channel)
            request = reflection_pb2.ServerReflectionRequest(list_services="")
            reply = next(stub.ServerReflectionInfo(iter([request]), timeout=5))
            names = [s.name for s in reply.list_services_response.service]
            health = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=expected), timeout=5
            )
            serving = health.status == health_pb2.HealthCheckResponse.SERVING
            ok = expected in names and serving
            failures += not ok
            status = health_pb2.HealthCheckResponse.ServingStatus.Name(health.status)
            print(f"{'ok ' if ok else 'BAD'} {host}:{port} {status:<11} {', '.join(names)}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
