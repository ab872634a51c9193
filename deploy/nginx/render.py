#!/usr/bin/python3
"""Renders deploy/nginx/imgpipe.conf for a site: rewrites only the lines marked `# @name`.

    deploy/nginx/render.py --api 10.0.0.11:8080 --api 10.0.0.12:8080 \
        --push 10.0.0.21:8080 --listen 80 > /etc/nginx/conf.d/imgpipe.conf

Markers: `@api_server` / `@push_server` (a group of consecutive `server ADDR PARAMS;` lines
becomes one line per address given, with the first line's PARAMS), `@listen`, `@server_name`,
`@access_log` (the first argument is replaced; `--access-log off` keeps nginx's default log); in
imgpipe-tls.conf also `@http_listen` (the port-80 redirect), `@ssl_certificate`,
`@ssl_certificate_key`. A marker on several lines rewrites each of them.

    deploy/nginx/render.py --config deploy/nginx/imgpipe-tls.conf --api 127.0.0.1:8080 \
        --push 127.0.0.1:8080 --server-name pacs.hospital.example \
        --ssl-certificate /etc/letsencrypt/live/pacs.hospital.example/fullchain.pem \
        --ssl-certificate-key /etc/letsencrypt/live/pacs.hospital.example/privkey.pem

Anything not given is left as shipped. The tests and bench/cluster use this, so what they run is
the shipped file with only these lines changed."""
import argparse
import re
import sys

DEFAULT = __file__.rsplit("/", 1)[0] + "/imgpipe.conf"
_MARKED = re.compile(r"^(\s*)(\S+)\s+(\S+?)(\s[^;]*)?;\s*# @(\w+)\s*$")


def render(text, api=None, push=None, listen=None, server_name=None, access_log=None,
           http_listen=None, ssl_certificate=None, ssl_certificate_key=None):
    """Returns `text` with the marked lines rewritten; raises ValueError on a missing marker."""
    groups = {"api_server": api, "push_server": push}
    singles = {"listen": listen, "server_name": server_name, "access_log": access_log,
               "http_listen": http_listen, "ssl_certificate": ssl_certificate,
               "ssl_certificate_key": ssl_certificate_key}
    seen = set()
    out = []
    for line in text.splitlines(keepends=True):
        m = _MARKED.match(line)
        if not m:
            out.append(line)
            continue
        indent, directive, arg, params, name = m.groups()
        params = params or ""
        if name in groups:
            if groups[name] is None:
                out.append(line)
            elif name not in seen:  # first line of the group: one line per address
                out.extend(f"{indent}{directive} {a}{params};  # @{name}\n" for a in groups[name])
            seen.add(name)
        elif name in singles:
            value = singles[name]
            seen.add(name)
            if value is None:
                out.append(line)
            elif name == "access_log" and value == "off":
                out.append(f"{indent}access_log off;  # @{name}\n")
            else:
                out.append(f"{indent}{directive} {value}{params};  # @{name}\n")
        else:
            raise ValueError(f"unknown marker @{name}")
    wanted = {k for k, v in {**groups, **singles}.items() if v is not None}
    if wanted - seen:
        raise ValueError(f"markers not found: {sorted(wanted - seen)}")
    return "".join(out)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default=DEFAULT, help="the template (default: the shipped file)")
    p.add_argument("--api", action="append", help="HOST:PORT of an api process (repeat)")
    p.add_argument("--push", action="append", help="HOST:PORT of a push process (repeat)")
    p.add_argument("--listen")
    p.add_argument("--server-name")
    p.add_argument("--access-log")
    p.add_argument("--http-listen", help="imgpipe-tls.conf: the port-80 redirect's listen")
    p.add_argument("--ssl-certificate", help="imgpipe-tls.conf: the certificate chain file")
    p.add_argument("--ssl-certificate-key", help="imgpipe-tls.conf: its private key file")
    a = p.parse_args()
    with open(a.config) as f:
        sys.stdout.write(render(f.read(), a.api, a.push, a.listen, a.server_name, a.access_log,
                                a.http_listen, a.ssl_certificate, a.ssl_certificate_key))


if __name__ == "__main__":
    main()
