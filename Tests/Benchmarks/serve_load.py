"""Load for bc-serve's API: C clients, each with its own keep-alive connection, POST one multipart request after
another (the same files each time) for a fixed time; prints latency p50/p99 and throughput per concurrency level.
Loopback only."""
import argparse
import http.client
import statistics
import threading
import time
import uuid
from urllib.parse import urlparse


def multipart(files):
    boundary = "bench-" + uuid.uuid4().hex
    body = b""
    for name, data in files:
        body += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{name}\"\r\n"
                 "Content-Type: image/png\r\n\r\n").encode() + data + b"\r\n"
    return body + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def client(host, port, body, content_type, stop_at, latencies, failures):
    connection = http.client.HTTPConnection(host, port, timeout=120)
    while time.monotonic() < stop_at:
        start = time.monotonic()
        connection.request("POST", "/api/predict", body=body, headers={"Content-Type": content_type})
        response = connection.getresponse()
        response.read()
        if response.status == 200:
            latencies.append(time.monotonic() - start)
        else:
            failures.append(response.status)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", default="1,4,16")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("files", nargs="+")
    args = parser.parse_args()
    url = urlparse(args.url)
    assert url.hostname in ("127.0.0.1", "localhost", "::1"), "loopback only"
    body, content_type = multipart([(f.rsplit("/", 1)[-1], open(f, "rb").read()) for f in args.files])
    images = len(args.files)
    print(f"{images} image(s) per request, {len(body) / 1e6:.2f} MB; {args.rounds} rounds of {args.seconds:.0f} s per level")
    print(f"{'clients':>7} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>7} {'img/s':>7} {'failed':>6}   (median of rounds)")
    for count in [int(c) for c in args.clients.split(",")]:
        rounds = []
        for _ in range(args.rounds):
            latencies, failures = [], []
            stop_at = time.monotonic() + args.seconds
            threads = [threading.Thread(target=client, args=(url.hostname, url.port, body, content_type, stop_at, latencies, failures))
                       for _ in range(count)]
            started = time.monotonic()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            elapsed = time.monotonic() - started
            latencies.sort()
            p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
            rounds.append((statistics.median(latencies) * 1000, p99 * 1000, len(latencies) / elapsed, len(failures)))
        p50, p99, rate, failed = (statistics.median(r[i] for r in rounds) for i in range(4))
        print(f"{count:>7} {p50:>8.1f} {p99:>8.1f} {rate:>7.1f} {rate * images:>7.1f} {int(failed):>6}")


if __name__ == "__main__":
    main()
