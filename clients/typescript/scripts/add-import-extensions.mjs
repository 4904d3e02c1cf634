// Adds ".js" to the relative imports of the compiled generated code (dist/src/gen).
//
// protoc-gen-es writes `import ... from "./task_pb"` unless buf.gen.yaml passes
// `import_extension=js`, and Node's ESM loader resolves only complete paths. tsc copies
// specifiers as written, so the compiled .js and .d.ts files are fixed here, after tsc.
// Files whose imports already end in ".js" are left as they are, so this is idempotent.
//
// usage: node scripts/add-import-extensions.mjs DIR
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";

const dir = process.argv[2];
if (!dir) {
  console.error("usage: node scripts/add-import-extensions.mjs DIR");
  process.exit(2);
}

// `from "./x"` or `from "../x"` without an extension (static imports and re-exports).
const relativeImport = /(\bfrom\s+["'])(\.{1,2}\/[^"']+?)(["'])/g;

for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
  if (!entry.isFile() || !/\.(js|d\.ts)$/.test(entry.name)) continue;
  const file = join(entry.parentPath ?? entry.path, entry.name);
  const text = await readFile(file, "utf8");
  const fixed = text.replace(relativeImport, (whole, head, path, tail) =>
    /\.(js|mjs|cjs|json)$/.test(path) ? whole : `${head}${path}.js${tail}`,
  );
  if (fixed !== text) await writeFile(file, fixed);
}
