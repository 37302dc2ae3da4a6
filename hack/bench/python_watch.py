#!/usr/bin/env python3
"""The official Python kubernetes client decoding the same watch stream (typed V1ConfigMap objects)."""
import resource
import sys
import time

from kubernetes import client, watch

url, expected = sys.argv[1], int(sys.argv[2])
configuration = client.Configuration()
configuration.host = url
api = client.CoreV1Api(client.ApiClient(configuration))
count = 0
start = time.perf_counter()
for event in watch.Watch().stream(api.list_namespaced_config_map, "default", timeout_seconds=600):
    obj = event["object"]
    if obj.metadata.name is None:
        raise SystemExit("undecoded object")
    count += 1
    if count == expected:
        break
elapsed = time.perf_counter() - start
rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"python-kubernetes events={count} seconds={elapsed:.3f} events_per_s={count / elapsed:.0f} peak_rss_mb={rss_mb:.1f}")
