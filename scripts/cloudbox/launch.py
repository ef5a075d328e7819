"""Starts cloudbox (and, when asked, the Firestore path proxy) in one process.

Run by `run-cloudbox`, with this directory on PYTHONPATH so that
`sitecustomize.py` lets cloudbox import on Python < 3.14.

Environment:
  CLOUDBOX_*_PORT, CLOUDBOX_HOST       read by cloudbox itself (cloudbox/config.py)
  CLOUDBOX_FIRESTORE_PROXY_PORT        if set, also serve firestore_proxy.py there,
                                       in front of CLOUDBOX_FIRESTORE_PORT
  CLOUDBOX_FIRESTORE_PROXY_PRECHECK=0  forward commits without the atomic precheck
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def _install_hook():
    """The hook of sitecustomize.py, even if another sitecustomize won the race."""
    if any(type(f).__name__ == "_CloudboxFinder" for f in sys.meta_path):
        return
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "hermes_cloudbox_sitecustomize", os.path.join(HERE, "sitecustomize.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)


def main():
    _install_hook()
    host = os.environ.setdefault("CLOUDBOX_HOST", "127.0.0.1")
    proxy_port = os.environ.get("CLOUDBOX_FIRESTORE_PROXY_PORT")
    if proxy_port:
        import firestore_proxy

        upstream = int(os.environ.get("CLOUDBOX_FIRESTORE_PORT", "8080"))
        precheck = os.environ.get("CLOUDBOX_FIRESTORE_PROXY_PRECHECK", "1") not in ("0", "false")
        firestore_proxy.serve(host, int(proxy_port), host, upstream, precheck=precheck)
        print(
            f"firestore proxy on http://{host}:{proxy_port} -> http://{host}:{upstream}"
            f" (precheck {'on' if precheck else 'off'})",
            file=sys.stderr,
            flush=True,
        )

    from cloudbox.main import main as cloudbox_main

    cloudbox_main()


if __name__ == "__main__":
    main()
