// Writes FILE.gz beside every text asset of the build, so imgpipe serves them compressed without
// compressing on each request (it picks FILE.gz when the browser accepts gzip).
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync, constants } from 'node:zlib';

const root = process.argv[2] ?? 'dist';
const compressible = /\.(js|mjs|css|html|svg|json|map|txt)$/;
let files = 0;
let before = 0;
let after = 0;
function walk(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path);
    else if (compressible.test(name)) {
      const data = readFileSync(path);
      const gz = gzipSync(data, { level: constants.Z_BEST_COMPRESSION });
      writeFileSync(path + '.gz', gz);
      files += 1;
      before += data.length;
      after += gz.length;
    }
  }
}
walk(root);
console.log(`compressed ${files} files: ${before} -> ${after} bytes`);
