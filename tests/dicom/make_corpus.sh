#!/bin/sh
# Builds the decode-conformance corpus in OUTDIR: uncompressed sources (make_sources.py), then for
# every row of corpus_rows.txt the row's file (OUTDIR/NAME.dcm, encoded by a DCMTK or GDCM command
# line tool) and the reference decode by a tool (OUTDIR/NAME.ref.dcm, uncompressed).
# A row the tools cannot produce is listed in OUTDIR/failed.txt (its test then fails by name);
# the script itself fails only when the corpus cannot be built at all.
# usage: make_corpus.sh OUTDIR
set -u
out=${1:?usage: make_corpus.sh OUTDIR}
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$out" && mkdir -p "$out/src" || exit 1
/usr/bin/python3 "$here/make_sources.py" "$out/src" || exit 1
: >"$out/failed.txt"
log="$out/tools.log"
: >"$log"
ok=0
grep -v '^#' "$here/corpus_rows.txt" | grep -v '^[[:space:]]*$' >"$out/rows.txt"
while IFS='|' read -r name source encode reference _rest; do
  in="$out/src/$source.dcm"
  row="$out/$name.dcm"
  ref="$out/$name.ref.dcm"
  if [ "$encode" = copy ]; then
    cmd="cp $in $row"
  else
    cmd=$(printf '%s' "$encode" | sed "s|{in}|$in|g; s|{out}|$row|g")
  fi
  refcmd=$(printf '%s' "$reference" | sed "s|{in}|$row|g; s|{out}|$ref|g")
  echo "== $name: $cmd ; $refcmd" >>"$log"
  if sh -c "$cmd" >>"$log" 2>&1 && [ -s "$row" ] && sh -c "$refcmd" >>"$log" 2>&1 && [ -s "$ref" ]; then
    ok=$((ok + 1))
  else
    echo "$name" >>"$out/failed.txt"
    rm -f "$row" "$ref"
  fi
done <"$out/rows.txt"
echo "make_corpus: $ok rows built, $(wc -l <"$out/failed.txt") failed (see $out/failed.txt, $log)"
[ "$ok" -gt 0 ]
