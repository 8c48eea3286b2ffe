"""The service of the builds suite's template: started by the template's
start command (ENTRYPOINT + CMD), ready once /health answers. `/` says who
runs it, where and with which APP_MODE, and its pid (the same after a
pause and resume: the process lived through it)."""
import http.server
import os
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/health":
            body = "ok"
        else:
            body = f"pong {os.getpid()} {os.getuid()} {os.getcwd()} {os.environ.get('APP_MODE', '-')}"
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt, *args):
        sys.stderr.write(fmt % args + "\n")


port = int(sys.argv[1]) if len(sys.argv) > 1 else 8080
http.server.ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()
