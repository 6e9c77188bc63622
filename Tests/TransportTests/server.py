# A loopback HTTP(S) server with one route per outcome the transport must handle.
# Usage: server.py [--ipv6] [--tls CERT KEY]; prints its port, exits when stdin closes.
# Every body is the pattern byte i = i % 256 of the resource.
import os, socket, ssl, sys, threading, time
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler

BLOCK = bytes(range(256)) * 4096  # 1 MiB, a whole number of pattern periods
FILE_SIZE = 100_000


def pattern(start, count):
    out = bytearray()
    while count > 0:
        offset = start % len(BLOCK)
        piece = BLOCK[offset:offset + count]
        out += piece
        start += len(piece)
        count -= len(piece)
    return bytes(out)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def head(self, status, headers=(), length=None):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        if length is not None:
            self.send_header("Content-Length", str(length))
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

    def stream(self, start, count):
        while count > 0:
            piece = pattern(start, min(count, len(BLOCK)))
            self.wfile.write(piece)
            start += len(piece)
            count -= len(piece)

    def forever(self, data):
        try:
            while True:
                self.wfile.write(data)
        except OSError:
            pass

    def range_start(self):
        value = self.headers.get("Range")
        if value and value.startswith("bytes=") and value.endswith("-"):
            return int(value[len("bytes="):-1])
        return None

    def do_GET(self):
        path, _, query = self.path.partition("?")
        host = self.headers.get("Host")
        if path == "/file":
            self.head(200, length=FILE_SIZE)
            self.stream(0, FILE_SIZE)
        elif path == "/large":
            size = int(query.split("=")[1])
            self.head(200, length=size)
            self.stream(0, size)
        elif path == "/echo-request":
            sni = getattr(self.connection, "sni", None)
            body = ("%s %s\n" % (self.command, self.path) + str(self.headers)
                    + ("SNI: %s\n" % sni if sni else "")).encode()
            self.head(200, length=len(body))
            self.wfile.write(body)
        elif path == "/chunked":
            self.head(200, [("Transfer-Encoding", "chunked")])
            start = 0
            for size in (1, 10, 4096, 70000, 5):
                extension = ";name=value" if size == 10 else ""
                self.wfile.write(b"%x%s\r\n" % (size, extension.encode()) + pattern(start, size) + b"\r\n")
                start += size
            self.wfile.write(b"0\r\nX-Trailer: yes\r\n\r\n")
        elif path == "/chunked-large":
            # 300 chunks of 4097 bytes: size lines and chunk ends fall across every read boundary.
            self.head(200, [("Transfer-Encoding", "chunked")])
            for index in range(300):
                self.wfile.write(b"1001\r\n" + pattern(index * 4097, 4097) + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        elif path == "/endless-chunked":
            self.head(200, [("Transfer-Encoding", "chunked")])
            self.forever(b"10000\r\n" + BLOCK[:0x10000] + b"\r\n")
        elif path == "/missing":
            self.head(404, length=8)
            self.wfile.write(b"not here")
        elif path == "/forbidden":
            self.head(403, length=0)
        elif path == "/error":
            self.head(500, length=0)
        elif path == "/redirect":
            self.head(302, [("Location", "/file")], length=0)
        elif path == "/redirect-absolute":
            self.head(301, [("Location", "http://%s/file" % host)], length=0)
        elif path == "/redirect-relative":
            self.head(307, [("Location", "file")], length=0)
        elif path.startswith("/chain/"):
            left = int(path[len("/chain/"):])
            self.head(302, [("Location", "/chain/%d" % (left - 1) if left > 1 else "/file")], length=0)
        elif path == "/loop-a":
            self.head(302, [("Location", "/loop-b")], length=0)
        elif path == "/loop-b":
            self.head(308, [("Location", "/loop-a")], length=0)
        elif path == "/to-file":
            self.head(302, [("Location", "file:///etc/passwd")], length=0)
        elif path == "/stall":
            self.head(200, length=100)
            self.wfile.write(pattern(0, 10))
            self.wfile.flush()
            time.sleep(3600)
        elif path == "/slow":
            # Never quiet for long, never done: one byte every 0.1 s of an announced 1000.
            self.head(200, length=1000)
            for index in range(1000):
                self.wfile.write(pattern(index, 1))
                time.sleep(0.1)
        elif path == "/stall-head":
            time.sleep(3600)
        elif path == "/endless":
            self.head(200)
            self.forever(BLOCK)
        elif path == "/more-than-announced":
            self.head(200, length=1000)
            self.forever(BLOCK)
        elif path == "/no-length":
            self.head(200)
            self.stream(0, 5000)
        elif path == "/short":
            self.head(200, length=1000)
            self.stream(0, 500)
        elif path == "/huge-length":
            self.head(200, length=10 ** 12)
            self.forever(BLOCK)
        elif path in ("/range", "/ignore-range", "/wrong-range"):
            start = self.range_start()
            if start is None or path == "/ignore-range":
                self.head(200, length=FILE_SIZE)
                self.stream(0, FILE_SIZE)
            elif start >= FILE_SIZE:
                self.head(416, [("Content-Range", "bytes */%d" % FILE_SIZE)], length=0)
            else:
                first = start + 1 if path == "/wrong-range" else start
                self.head(206, [("Content-Range", "bytes %d-%d/%d" % (first, FILE_SIZE - 1, FILE_SIZE))],
                          length=FILE_SIZE - first)
                self.stream(first, FILE_SIZE - first)
        elif path == "/interim":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self.head(200, length=100)
            self.stream(0, 100)
        elif path == "/header-flood":
            self.wfile.write(b"HTTP/1.1 200 OK\r\n")
            self.forever(b"X-Filler: " + b"a" * 1000 + b"\r\n")
        elif path == "/bad-status":
            self.wfile.write(b"HTTP/1.1 2x0 OK\r\n\r\n")
        else:
            self.head(404, length=0)


def main():
    arguments = sys.argv[1:]
    ipv6 = "--ipv6" in arguments

    class Server(ThreadingHTTPServer):
        address_family = socket.AF_INET6 if ipv6 else socket.AF_INET
        daemon_threads = True
        request_queue_size = 64

        def handle_error(self, request, client_address):
            pass  # clients that reject the certificate or hang up early are what some tests do

    server = Server(("::1" if ipv6 else "127.0.0.1", 0), Handler)
    if "--tls" in arguments:
        index = arguments.index("--tls")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(arguments[index + 1], arguments[index + 2])
        context.sni_callback = lambda connection, name, _: setattr(connection, "sni", name)
        server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(server.server_address[1], flush=True)
    sys.stdin.read()  # the test process is gone when its end of the pipe closes
    os._exit(0)


main()
