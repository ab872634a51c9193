#!/usr/bin/python3
"""Helpers of pacs_vs_orthanc.sh (stdlib only).

  report.py wrk FILE        -> "RPS P50_MS P99_MS NON2XX SOCKET_ERRORS" parsed from wrk --latency
  report.py json-len FILE   -> length of the JSON array in FILE (or of obj["studies"]), else -1
  report.py json-get FILE K -> obj[K] of the JSON object in FILE, else empty
  report.py table TSV       -> the Markdown comparison table for the results in TSV
"""

import json
import re
import os
import sys

_UNIT_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


def _ms(text):
    m = re.fullmatch(r"([0-9.]+)(us|ms|s|m|h)", text)
    return float(m.group(1)) * _UNIT_MS[m.group(2)] if m else float("nan")


def parse_wrk(path):
    rps, p50, p99, non2xx, sock = "nan", "nan", "nan", 0, 0
    with open(path, errors="replace") as f:
        for line in f:
            words = line.split()
            if line.startswith("Requests/sec:"):
                rps = words[1]
            elif len(words) == 2 and words[0] == "50%":
                p50 = "%.2f" % _ms(words[1])
            elif len(words) == 2 and words[0] == "99%":
                p99 = "%.2f" % _ms(words[1])
            elif line.strip().startswith("Non-2xx or 3xx responses:"):
                non2xx = int(words[-1])
            elif line.strip().startswith("Socket errors:"):
                sock = sum(int(n) for n in re.findall(r"\d+", line))
    return "%s %s %s %d %d" % (rps, p50, p99, non2xx, sock)


def json_len(path):
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, ValueError):
        return -1
    if isinstance(doc, dict) and isinstance(doc.get("studies"), list):
        doc = doc["studies"]
    return len(doc) if isinstance(doc, list) else -1


def json_get(path, key):
    try:
        with open(path) as f:
            doc = json.load(f)
        return str(doc.get(key, "")) if isinstance(doc, dict) else ""
    except (OSError, ValueError):
        return ""


# (key prefix, label, unit, which is better, has latency percentiles, Orthanc key if different)
ROWS = [
    ("idle_rss_mb", "Idle RSS after start", "MB", "lower", False, None),
    ("preview_ct.nocache", "Preview CT 128x128 16-bit signed -> PNG (imgpipe render cache OFF)",
     "req/s", "higher", True, "preview_ct"),
    ("preview_ct.cache", "Preview CT 128x128 16-bit signed -> PNG (imgpipe render cache ON)",
     "req/s", "higher", True, "preview_ct"),
    ("preview_j12.nocache", "Preview 12-bit JPEG ext. 256x1024 -> PNG (cache OFF)", "req/s",
     "higher", True, "preview_j12"),
    ("preview_j12.cache", "Preview 12-bit JPEG ext. 256x1024 -> PNG (cache ON)", "req/s",
     "higher", True, "preview_j12"),
    ("qido", "QIDO-RS GET studies (28 studies)", "req/s", "higher", True, None),
    ("ingest", "Ingest, new 64x64 instances (%s per series), 16 parallel POSTs" %
     os.environ.get("BENCH_INGEST_SERIES_SIZE", "1"), "inst/s", "higher", True, None),
    ("malformed_upload_s", "Malformed 4.4 KB JPEG: upload wall time (curl)", "ms", "lower", False,
     None),
    ("malformed_preview_s", "Malformed 4.4 KB JPEG: preview wall time", "s", "lower", False, None),
    ("malformed_peak_rss_mb", "Malformed 4.4 KB JPEG: peak RSS during upload+preview", "MB",
     "lower", False, None),
]


def _num(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def _fmt(v):
    if v is None:
        return "n/a"
    if abs(v) >= 100:
        return "%.0f" % v
    if abs(v) >= 10:
        return "%.1f" % v
    return "%.2f" % v


def table(tsv):
    res = {}
    with open(tsv) as f:
        for line in f:
            if "\t" in line:
                k, v = line.rstrip("\n").split("\t", 1)
                res[k] = v
    out = ["| Measurement | Unit | Orthanc 1.10 | imgpipe | imgpipe / Orthanc | Better | "
           "Orthanc p50 / p99 ms | imgpipe p50 / p99 ms |",
           "|---|---|---:|---:|---:|---|---:|---:|"]
    for key, label, unit, better, lat, okey in ROWS:
        okey = okey or key
        o_raw, i_raw = res.get("orthanc." + okey), res.get("imgpipe." + key)
        o, i = _num(o_raw), _num(i_raw)
        if unit == "ms" and key.endswith("_s"):  # recorded in seconds, shown in ms
            o = o * 1000 if o is not None else None
            i = i * 1000 if i is not None else None
        o_txt = _fmt(o) if o is not None else (o_raw or "n/a")
        i_txt = _fmt(i) if i is not None else (i_raw or "n/a")
        for srv, k, txt in (("orthanc", okey, o_txt), ("imgpipe", key, i_txt)):
            note = res.get("%s.%s.note" % (srv, k))
            if note:
                txt += " (%s)" % note
            if srv == "orthanc":
                o_txt = txt
            else:
                i_txt = txt
        ratio = "%.2fx" % (i / o) if (o and i is not None) else "n/a"
        lat_o = lat_i = ""
        if lat:
            lat_o = "%s / %s" % (res.get("orthanc.%s.p50" % okey, "n/a"),
                                 res.get("orthanc.%s.p99" % okey, "n/a"))
            lat_i = "%s / %s" % (res.get("imgpipe.%s.p50" % key, "n/a"),
                                 res.get("imgpipe.%s.p99" % key, "n/a"))
        out.append("| %s | %s | %s | %s | %s | %s | %s | %s |" %
                   (label, unit, o_txt, i_txt, ratio, better, lat_o, lat_i))
    return "\n".join(out)


def main():
    cmd = sys.argv[1]
    if cmd == "wrk":
        print(parse_wrk(sys.argv[2]))
    elif cmd == "json-len":
        print(json_len(sys.argv[2]))
    elif cmd == "json-get":
        print(json_get(sys.argv[2], sys.argv[3]))
    elif cmd == "table":
        print(table(sys.argv[2]))
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
