import Foundation
import TestSupport
import Testing

/// A static HTTP server on loopback (python3's http.server), serving a directory until stopped.
final class StaticServer {
    let port: Int
    private let child: ChildServer

    /// Serves `directory` on 127.0.0.1 at a port the kernel chooses, with `Range` requests
    /// answered by 206. With `chunkDelay`, each 64 kB of a body waits that long (a slow server).
    /// With `faults`, before each request under `/targets/` the server reads that file, a JSON
    /// object whose "mode" misbehaves (for targets; with `"metadata": true` for metadata too): "404", "500", "stall" (headers, then nothing), "cut:N"
    /// (N bytes of the body, then the connection closed), "oversize:N" (N bytes more than the
    /// file, announced in Content-Length), "drip" (the body one byte every 0.2 s, so it never
    /// stalls and never ends in a test's time), "redirect-loop" (302 to the same URL),
    /// "stall-head" (no response at all), "lie-short:N" (only the first N bytes, announced as the
    /// whole body), "range-wrong" (a Range answered from byte 0 with a 206), "range-ignored" (a
    /// Range answered with the whole file and 200), "slow" (each 64 kB of a body waits 0.2 s),
    /// "pause:N" (N bytes of the body, then the rest once the faults file names another mode),
    /// "redirect:BASE" (302 to BASE + the path); with `"install": true` files under `/install/`
    /// misbehave too; and appends "<path> <Range header or ->" to `<faults>.requests`.
    init(serving directory: String, chunkDelay: Double = 0, faults: String? = nil) throws {
        let script = """
        import functools, http.server, json, os, socket, sys, threading, time
        root, delay, faults = sys.argv[1], float(sys.argv[2]), sys.argv[3]
        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            def log_message(self, *args): pass
            def do_GET(self):
                path = os.path.join(root, self.path.split("?")[0].lstrip("/"))
                mode = ""
                if faults and self.path.startswith("/targets/"):
                    with open(faults + ".requests", "a") as log:
                        log.write(self.path + " " + (self.headers.get("Range") or "-") + "\\n")
                if faults and os.path.exists(faults):
                    spec = json.load(open(faults))
                    if self.path.startswith("/targets/") or spec.get("metadata") or (spec.get("install") and self.path.startswith("/install/")):
                        mode = spec.get("mode") or ""
                if mode in ("404", "500"):
                    self.send_response(int(mode)); self.send_header("Content-Length", "0"); self.end_headers(); return
                if mode.startswith("redirect:"):
                    self.send_response(302); self.send_header("Location", mode[len("redirect:"):] + self.path); self.send_header("Content-Length", "0"); self.end_headers(); return
                if mode == "redirect-loop":
                    self.send_response(302); self.send_header("Location", self.path); self.send_header("Content-Length", "0"); self.end_headers(); return
                if mode == "stall-head":
                    time.sleep(3600); return
                if not os.path.isfile(path):
                    self.send_response(404); self.send_header("Content-Length", "0"); self.end_headers(); return
                data = open(path, "rb").read()
                start = 0
                ranged = self.headers.get("Range")
                if ranged and ranged.startswith("bytes=") and ranged.endswith("-") and mode != "range-ignored":
                    start = int(ranged[6:-1])
                extra = int(mode.split(":")[1]) if mode.startswith("oversize:") else 0
                body = data[start:] + b"x" * extra
                if mode.startswith("lie-short:"):
                    body = body[:int(mode.split(":")[1])]
                self.send_response(206 if start else 200)
                if start and mode == "range-wrong":
                    body = data
                    self.send_header("Content-Range", "bytes 0-%d/%d" % (len(data) - 1, len(data)))
                elif start:
                    self.send_header("Content-Range", "bytes %d-%d/%d" % (start, len(data) - 1, len(data)))
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if mode == "stall":
                    time.sleep(3600); return
                if mode == "drip":
                    try:
                        for offset in range(len(body)):
                            self.wfile.write(body[offset:offset + 1]); self.wfile.flush(); time.sleep(0.2)
                    except OSError:
                        pass
                    return
                if mode.startswith("pause:"):
                    # The first N bytes, then the rest once the faults file names another mode.
                    first = int(mode.split(":")[1])
                    self.wfile.write(body[:first]); self.wfile.flush()
                    for _ in range(1200):
                        if (json.load(open(faults)).get("mode") or "") != mode: break
                        time.sleep(0.05)
                    self.wfile.write(body[first:]); self.wfile.flush(); return
                if mode.startswith("cut:"):
                    self.wfile.write(body[:int(mode.split(":")[1])]); self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR); self.close_connection = True; return
                for offset in range(0, len(body), 65536):
                    self.wfile.write(body[offset:offset + 65536])
                    if delay: time.sleep(delay)
                    if mode == "slow": time.sleep(0.2)
        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True
        server = Server(("127.0.0.1", 0), Handler)
        print(server.server_address[1], flush=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        sys.stdin.read()
        """
        child = try ChildServer(python: ["-c", script, directory, String(chunkDelay), faults ?? ""], name: "the loopback HTTP server")
        port = child.port
    }

    var url: String { "http://127.0.0.1:\(port)" }

    /// Stops the server (end of its standard input) and waits for it.
    func stop() { child.stop() }

    static var available: Bool { ChildServer.python != nil }
}

extension Harness {
    /// `repository`'s `metadata/` and `targets/` linked into a directory of their own: what a
    /// release repository's owner serves (never its `keys/`).
    func publicView(of repository: String) throws -> String {
        let view = root.appendingPathComponent("public-\(UUID().uuidString.prefix(6))").path
        try FileManager.default.createDirectory(atPath: view, withIntermediateDirectories: true)
        for name in ["metadata", "targets"] {
            try FileManager.default.createSymbolicLink(atPath: view + "/" + name, withDestinationPath: repository + "/" + name)
        }
        return view
    }
}
