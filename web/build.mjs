// Bundles the web UI (web/main.ts, xterm.js, the styles) with esbuild into dist/ui, which bonsai serve
// serves (src/web/server.ts). Run by `npm run build` (and so by `prepare` on npm install).
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, '..', 'dist', 'ui');
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
await build({
  entryPoints: { app: join(here, 'main.ts') },
  bundle: true, minify: true, format: 'esm', target: 'es2022',
  outdir: out, logLevel: 'warning', legalComments: 'linked',
});
copyFileSync(join(here, 'index.html'), join(out, 'index.html'));
