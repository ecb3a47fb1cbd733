# Call home: the grader's loopback, the outside world, DNS.
import socket

for address in [("127.0.0.1", PORT), ("1.1.1.1", 53)]:
    try:
        with socket.create_connection(address, timeout=3) as s:
            s.sendall(b"pwned")
        print("LEAKED connected", address)
    except OSError as exc:
        print("connect:", type(exc).__name__)
try:
    socket.getaddrinfo("example.com", 443)
    print("LEAKED dns")
except OSError as exc:
    print("dns:", type(exc).__name__)
