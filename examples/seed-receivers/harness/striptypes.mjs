// stripTypes removes the TypeScript the seeds' snippets use, and only that, so that node 20
// (which has no type stripping) runs them: parameter and return annotations of the
// primitive types (`rawBody: string`, `): boolean {`), `as <primitive>` casts and non-null
// assertions (`process.env.X!;`). It is deliberately narrow: TypeScript it does not know is
// left in place, and node then refuses the file, so a seed that needs more fails loudly
// rather than running something else.
const prim = '(?:string|boolean|number)';

export function stripTypes(source) {
  return source
    .replace(new RegExp(`\\)\\s*:\\s*${prim}\\s*\\{`, 'g'), ') {')
    .replace(new RegExp(`\\b([A-Za-z_$][\\w$]*)\\s*:\\s*${prim}(?=\\s*[,)])`, 'g'), '$1')
    .replace(new RegExp(`(?<=[\\w$\\])])[ \\t]+as[ \\t]+${prim}(?=[ \\t]*[;,)])`, 'g'), '')
    .replace(/([\w$\])])!(?=\s*[;,)])/g, '$1');
}
