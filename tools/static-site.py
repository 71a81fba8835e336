#!/usr/bin/env python3
"""Turns a release build (dist/) into a folder any static web server can host as the whole
lab, data included: copies it and writes its Content-Security-Policy twice, as a <meta> tag
in index.html (so even a server that sends no headers enforces it) and as a `_headers` file
(the format of Netlify and Cloudflare Pages) for servers that send headers.

    python3 tools/static-site.py dist OUT

The policy: scripts only from the page's own origin (plus the one inline module script
Trunk writes to start the app, allowed by its sha256) and WebAssembly compilation; data,
styles and images only from the page's origin; no other origin for anything.
"""

import base64
import hashlib
import re
import shutil
import sys
from pathlib import Path


def policy(inline_scripts):
    hashes = " ".join(
        "'sha256-%s'" % base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()
        for s in inline_scripts
    )
    return "; ".join([
        "default-src 'none'",
        f"script-src 'self' 'wasm-unsafe-eval' {hashes}".strip(),
        "connect-src 'self'",
        # leptos sets style attributes; styles still come from the page alone.
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "worker-src 'self' blob:",
        "base-uri 'none'",
        "form-action 'none'",
    ])


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: static-site.py DIST OUT")
    dist, out = Path(sys.argv[1]), Path(sys.argv[2])
    index = dist / "index.html"
    if not index.is_file():
        sys.exit(f"{index} is missing: build the page first (trunk build --release)")
    if not (dist / "data" / "manifest.json").is_file():
        sys.exit(f"{dist}/data/manifest.json is missing: prepare the data first (./x data)")
    html = index.read_text()
    if re.search(r"""(src|href)=["']?/[^/]""", html):
        sys.exit(f"{index} links assets by absolute paths: build with public_url = \"./\"")
    inline = re.findall(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", html, re.S)
    csp = policy(inline)
    meta = f'<meta http-equiv="Content-Security-Policy" content="{csp}">'
    html, n = re.subn(r"(<meta charset=[^>]*>)", lambda m: m.group(1) + meta, html, count=1)
    if n != 1:
        sys.exit(f"{index}: no <meta charset> to put the policy after")
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(dist, out)
    (out / "index.html").write_text(html)
    (out / "_headers").write_text(f"/*\n  Content-Security-Policy: {csp}\n")
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    print(f"{out}: the whole lab, {size / 1e6:.1f} MB (data included)")
    print(f"Content-Security-Policy: {csp}")


if __name__ == "__main__":
    main()
