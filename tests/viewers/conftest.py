"""Harness for viewer checks: a demo plate, vizarr's built web app, a localhost server, headless Chromium.

vizarr comes from the npm registry as ``@galaxyproject/vizarr`` (Galaxy's build of vizarr: a
static ``index.js`` that reads its image URL from a dataset API). It is fetched with ``npm pack``
into a user cache at test time, never committed. The page is served, with the plate, by a
thread on 127.0.0.1; Chromium (Debian's ``chromium``) is driven by Python ``playwright``. The
browser is offline: the one import the bundle makes from a CDN (pdf.js's JPEG 2000 decoder,
unused for zarr) is answered with a stub module, every other outside request is aborted.
"""

import json
import os
import shutil
import subprocess
import tarfile
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

VIZARR_PACKAGE = "@galaxyproject/vizarr@0.1.8"
CHROMIUM = Path("/usr/bin/chromium")
# WebGL2 in headless Chromium without a GPU: ANGLE on SwiftShader
CHROMIUM_ARGS = ["--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--no-sandbox"]
DATASET_ID = "plate"


def _cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "ames-batch" / VIZARR_PACKAGE.replace("/", "+").replace("@", "")


@pytest.fixture(scope="session")
def vizarr_app() -> Path:
    """Directory holding vizarr's built ``index.js`` (npm pack once, then cached)."""
    app = _cache_dir() / "package" / "static"
    if (app / "index.js").is_file():
        return app
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm not found: vizarr's built app comes from the npm registry (apt-get install -y npm)")
    cache = _cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    try:
        out = subprocess.run([npm, "pack", VIZARR_PACKAGE, "--pack-destination", str(cache), "--json"],
                             capture_output=True, text=True, timeout=180, check=True)
    except (subprocess.SubprocessError, OSError) as exc:
        pytest.skip(f"`npm pack {VIZARR_PACKAGE}` failed (no registry?): {exc}")
    tarball = cache / json.loads(out.stdout)[0]["filename"].replace("@", "").replace("/", "-")
    with tarfile.open(tarball) as tar:
        tar.extractall(cache, filter="data")
    tarball.unlink()
    return app


class _Handler(SimpleHTTPRequestHandler):
    """``/``: the page; ``/index.js``: vizarr; ``/api/datasets/<id>``: where the image is; ``/data/``: files."""

    app: Path
    data: Path
    target: str  # path of the image or plate under `data`, set per test

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def _send(self, body: bytes, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        base = f"http://127.0.0.1:{self.server.server_port}/"
        path = self.path.split("?")[0]
        if path == "/":
            incoming = json.dumps({"root": base, "visualization_config": {"dataset_id": DATASET_ID}})
            self._send(
                ("<!doctype html><html><head><meta charset='utf-8'>"
                 "<style>html,body,#app{margin:0;width:100%;height:100%;background:#000}</style>"
                 "<script type='module' src='/index.js'></script></head>"
                 f"<body><div id='app' data-incoming='{incoming}'></div></body></html>").encode(), "text/html")
        elif path == "/index.js":
            self._send((self.app / "index.js").read_bytes(), "text/javascript")
        elif path == f"/api/datasets/{DATASET_ID}":
            # Galaxy's answer for a dataset stored elsewhere ("deferred"): vizarr opens source_uri
            answer = {"id": DATASET_ID, "name": self.target, "state": "deferred",
                      "sources": [{"source_uri": base + "data/" + self.target}]}
            self._send(json.dumps(answer).encode(), "application/json")
        elif path.startswith("/data/") and (self.data / path[len("/data/"):]).is_file():
            self._send((self.data / path[len("/data/"):]).read_bytes(), "application/octet-stream")
        else:
            self.send_error(404)  # zarr probes keys that do not exist (v2 metadata, empty chunks)


@pytest.fixture
def serve(vizarr_app):
    """``serve(directory, target) -> url``: the vizarr page showing `directory / target`."""
    servers = []

    def start(directory: Path, target: str) -> str:
        handler = type("Handler", (_Handler,), {"app": vizarr_app, "data": Path(directory), "target": target})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}/"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def browser(playwright_manager):
    """Headless Debian Chromium through playwright (never `playwright install`)."""
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} not found: apt-get install -y chromium")
    browser = playwright_manager.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def page(browser):
    """A page that reaches only 127.0.0.1, with the bundle's CDN import stubbed; `page.errors` collects page errors."""
    page = browser.new_page(viewport={"width": 800, "height": 600})
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))

    def route(request_route):
        url = request_route.request.url
        if url.startswith("http://127.0.0.1:"):
            return request_route.continue_()
        if url.endswith("/jpx.js"):  # pdf.js's JPEG 2000 decoder, imported at load, unused for zarr
            return request_route.fulfill(status=200, content_type="text/javascript",
                                         body="export class JpxImage {}")
        return request_route.abort()

    page.route("**/*", route)
    yield page
    page.close()
