/**
 * Module hooks of ts-loader.mjs: `./x.js` imports from TypeScript resolve to `./x.ts`, and `.ts`
 * files are transpiled, with the output cached by content in the OS temp directory.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { URL, fileURLToPath } from 'node:url';

const { version: TS_VERSION } = createRequire(import.meta.url)('typescript/package.json');
const CACHE_DIR = path.join(tmpdir(), `user-sync-ts-loader-${TS_VERSION}`);
/** TypeScript itself is loaded only when a file is not in the cache. */
let compiler;

export async function resolve(specifier, context, nextResolve) {
  const parent = context.parentURL;
  if (parent?.endsWith('.ts') && /^\.{1,2}\//.test(specifier) && specifier.endsWith('.js')) {
    const candidate = new URL(`${specifier.slice(0, -3)}.ts`, parent);
    if (existsSync(fileURLToPath(candidate))) return { url: candidate.href, shortCircuit: true };
  }
  return nextResolve(specifier, context);
}

async function transpile(fileName, source) {
  const key = createHash('sha256').update(fileName).update('\0').update(source).digest('hex');
  const cached = path.join(CACHE_DIR, `${key}.js`);
  try {
    return await readFile(cached, 'utf8');
  } catch {
    // not cached yet
  }
  compiler ??= (await import('typescript')).default;
  const { outputText } = compiler.transpileModule(source, {
    fileName,
    compilerOptions: {
      module: compiler.ModuleKind.ESNext,
      target: compiler.ScriptTarget.ES2022,
      isolatedModules: true,
      esModuleInterop: true,
      inlineSourceMap: true,
      inlineSources: true,
    },
  });
  try {
    await mkdir(CACHE_DIR, { recursive: true });
    const partial = `${cached}.${process.pid}.tmp`;
    await writeFile(partial, outputText);
    await rename(partial, cached);
  } catch {
    // a cache that cannot be written only costs time
  }
  return outputText;
}

export async function load(url, context, nextLoad) {
  if (!url.startsWith('file:') || !url.endsWith('.ts')) return nextLoad(url, context);
  const fileName = fileURLToPath(url);
  const source = await transpile(fileName, await readFile(fileName, 'utf8'));
  return { format: 'module', source, shortCircuit: true };
}
