# Serves the directory given as argv[1] on loopback, for the hostile-repository tests.
# Prints its port, exits when stdin closes. Each request path is appended to
# <first path component>/requests.log. A file "<name>.endless" next to a missing <name> makes
# <name> an endless, slow body without Content-Length; "<name>.redirect-loop" makes it
# redirect back and forth between two URLs.
import os, sys, threading, time
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler

ROOT = os.path.abspath(sys.argv[1])


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        path = self.path.lstrip("/")
        bounced = path.startswith("bounce/")
        if bounced:
            path = path[len("bounce/"):]
        first = path.split("/", 1)[0]
        if os.path.isdir(os.path.join(ROOT, first)):
            with open(os.path.join(ROOT, first, "requests.log"), "a") as log:
                log.write(path + "\n")
        local = os.path.join(ROOT, path)
        if os.path.isfile(local + ".redirect-loop"):
            target = "/" + path if bounced else "/bounce/" + path
            self.send_response(302)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if os.path.isfile(local + ".endless"):
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            try:
                while True:
                    self.wfile.write(b" " * 1024)
                    self.wfile.flush()
                    time.sleep(0.001)
            except OSError:
                return
        if not os.path.isfile(local):
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        with open(local, "rb") as f:
            data = f.read()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
print(server.server_address[1], flush=True)
threading.Thread(target=server.serve_forever, daemon=True).start()
sys.stdin.read()
server.shutdown()
