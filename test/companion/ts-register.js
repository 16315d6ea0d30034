/* eslint-disable -- a plain CommonJS require hook, loaded by node -r before any TypeScript exists */
// Lets spawned test processes run the TypeScript sources directly (no build step, no stale
// dist/): every .ts file is transpiled on require with the project's own TypeScript.
const fs = require('node:fs');
const ts = require('typescript');

require.extensions['.ts'] = function register(module, filename) {
  const out = ts.transpileModule(fs.readFileSync(filename, 'utf8'), {
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true, sourceMap: false },
    fileName: filename,
  });
  module._compile(out.outputText, filename);
};
