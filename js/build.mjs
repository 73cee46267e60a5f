// Bundle every widget entry module in src/widgets/ into ../eelswidgets/static/ (ES modules).
import { build } from "esbuild";
import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
const entries = readdirSync(path.join(here, "src", "widgets"))
  .filter((f) => f.endsWith(".js"))
  .map((f) => path.join(here, "src", "widgets", f));

await build({
  entryPoints: entries,
  bundle: true,
  format: "esm",
  minify: true,
  target: "es2020",
  outdir: path.join(here, "..", "eelswidgets", "static"),
  logLevel: "info",
});
