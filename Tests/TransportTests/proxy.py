# A loopback forward proxy: absolute-form GET for http, CONNECT tunnels for https.
# Usage: proxy.py [--auth USER:PASSWORD] [--refuse-connect]; prints its port, exits when stdin closes.
# Every request it handled is appended to the log file named by --log, one line each:
# "GET <absolute URL>", "CONNECT <host:port>" or "REFUSED <why>".
import base64, socket, sys, threading, urllib.parse

args = sys.argv[1:]
auth = args[args.index("--auth") + 1] if "--auth" in args else None
log = args[args.index("--log") + 1] if "--log" in args else None
refuse_connect = "--refuse-connect" in args
lock = threading.Lock()


def record(line):
    if log:
        with lock, open(log, "a") as f:
            f.write(line + "\n")


def read_head(conn):
    data = b""
    while b"\r\n\r\n" not in data:
        piece = conn.recv(1)
        if not piece:
            return None
        data += piece
    lines = data.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    return lines[0], headers


def pipe(source, target):
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            target.sendall(data)
    except OSError:
        pass
    finally:
        try:
            target.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def handle(conn):
    try:
        head = read_head(conn)
        if head is None:
            return
        request, headers = head
        method, target, _ = request.split(" ", 2)
        if auth is not None:
            expected = "Basic " + base64.b64encode(auth.encode()).decode()
            if headers.get("proxy-authorization") != expected:
                record("REFUSED no or wrong Proxy-Authorization")
                conn.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"test\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                return
        if method == "CONNECT":
            if refuse_connect:
                record("REFUSED CONNECT " + target)
                conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                return
            record("CONNECT " + target)
            host, port = target.rsplit(":", 1)
            upstream = socket.create_connection((host.strip("[]"), int(port)))
            conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            threading.Thread(target=pipe, args=(upstream, conn), daemon=True).start()
            pipe(conn, upstream)
            return
        record("GET " + target)
        url = urllib.parse.urlsplit(target)
        upstream = socket.create_connection((url.hostname, url.port or 80))
        path = url.path + ("?" + url.query if url.query else "")
        lines = [f"{method} {path or '/'} HTTP/1.1"] + [f"{k}: {v}" for k, v in headers.items() if k != "proxy-authorization"]
        upstream.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        pipe(upstream, conn)
    finally:
        conn.close()


server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", 0))
server.listen(64)
print(server.getsockname()[1], flush=True)


def serve():
    while True:
        conn, _ = server.accept()
        threading.Thread(target=handle, args=(conn,), daemon=True).start()


threading.Thread(target=serve, daemon=True).start()
sys.stdin.read()
