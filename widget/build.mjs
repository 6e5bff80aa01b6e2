// Builds the tag into static/js/ (or the folder given as the first argument):
//   optline-loader.js  the loader alone (measured: ≤ 2 KB gzip)
//   optline-ui.js      the UI with its CSS (loader + UI measured: ≤ 12 KB gzip, a test fails > 14 KB)
//   optline.js         what GET /t/<property>.js serves: loader + "\n" + UI, one request
// `--size` prints raw and gzip -9 sizes. Output is deterministic, so a test can compare it.
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import * as esbuild from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const outdir = resolve(args.find((a) => !a.startsWith('--')) || join(here, '..', 'static', 'js'));
const version = JSON.parse(readFileSync(join(here, 'package.json'), 'utf8')).version;
const PLACEHOLDER = '"__OPTLINE_CONFIG__"';

// CSS is imported as a minified string (adopted into the shadow roots at run time).
const cssAsText = {
  name: 'css-as-text',
  setup(build) {
    build.onLoad({ filter: /\.css$/ }, async (args) => {
      const { code } = await esbuild.transform(readFileSync(args.path, 'utf8'), { loader: 'css', minify: true });
      return { contents: 'export default ' + JSON.stringify(code.trim()), loader: 'js' };
    });
  },
};

async function bundle(entry) {
  const result = await esbuild.build({
    entryPoints: [join(here, 'src', entry)],
    bundle: true,
    write: false,
    format: 'iife',
    target: 'es2018',
    minify: true,
    legalComments: 'none',
    charset: 'utf8',
    define: { __VERSION__: JSON.stringify(version) },
    plugins: [cssAsText],
  });
  return result.outputFiles[0].text.trim();
}

const loader = await bundle('loader.js');
const ui = await bundle('ui.js');
if (loader.split(PLACEHOLDER).length !== 2) throw new Error(`the loader must contain ${PLACEHOLDER} exactly once`);
if (ui.includes(PLACEHOLDER)) throw new Error(`the UI must not contain ${PLACEHOLDER}`);
const files = {
  'optline-loader.js': loader + '\n',
  'optline-ui.js': ui + '\n',
  'optline.js': loader + '\n' + ui + '\n',
};
mkdirSync(outdir, { recursive: true });
for (const [name, text] of Object.entries(files)) writeFileSync(join(outdir, name), text);

if (args.includes('--size')) {
  for (const [name, text] of Object.entries(files)) {
    const raw = Buffer.byteLength(text);
    const gz = gzipSync(text, { level: 9 }).length;
    console.log(`${name.padEnd(18)} ${String(raw).padStart(6)} B  ${String(gz).padStart(5)} B gzip -9`);
  }
}
