import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/** The repository root: the nearest folder above the working directory whose package.json is bonsai's. */
export function repoRoot(): string {
  let dir = resolve(process.cwd());
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'bonsai') return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('run the tests from inside the bonsai repository');
    dir = up;
  }
}

export function repoPath(...parts: string[]): string {
  return join(repoRoot(), ...parts);
}
