// Module hooks (registered by run.mjs) that let node 20 run the seeds' TypeScript snippets
// as they are written: a relative import without an extension from a .ts file ('./verify-signature')
// finds the .ts file, and a .ts file is loaded as an ES module with its type annotations
// removed by stripTypes. Nothing else about the code changes.
import { readFile } from 'node:fs/promises';
import { stripTypes } from './striptypes.mjs';

export async function resolve(specifier, context, nextResolve) {
  const relative = specifier.startsWith('./') || specifier.startsWith('../');
  if (relative && context.parentURL && context.parentURL.endsWith('.ts') && !/\.[cm]?[jt]s$/.test(specifier)) {
    return nextResolve(specifier + '.ts', context);
  }
  return nextResolve(specifier, context);
}

export async function load(url, context, nextLoad) {
  if (url.startsWith('file:') && url.endsWith('.ts')) {
    const source = await readFile(new URL(url), 'utf8');
    return { format: 'module', source: stripTypes(source), shortCircuit: true };
  }
  return nextLoad(url, context);
}
