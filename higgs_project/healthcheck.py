"""Container health probe: asks the running server's /api/health, exits 0 when it answers 200.

Sends the first ALLOWED_HOSTS entry as Host, so host validation passes as it would for a
real visitor. Usage: python -m higgs_project.healthcheck
"""

import os
import sys
import urllib.error
import urllib.request


def main() -> int:
    port = os.environ.get("PORT", "8000")
    host = (os.environ.get("ALLOWED_HOSTS", "localhost").split(",")[0].strip() or "localhost").lstrip(".")
    if host == "*":
        host = "localhost"
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/health", headers={"Host": host})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError) as exc:
        print(f"health check failed: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
