import os
import sys

# The server's package, as the image lays it out (rootfs/ overlay).
SERVER_PATH = os.path.abspath(
    os.path.join(
        os.path.dirname(__file__), "..", "..", "..",
        "images", "templates", "code-interpreter-v1", "rootfs", "opt", "wrenn", "code-interpreter",
    )
)
sys.path.insert(0, SERVER_PATH)
