/* eslint-disable -- a plain CommonJS require hook, loaded before any TypeScript exists */
// Lets worker threads started from the TypeScript sources (jest runs src/ directly) load .ts
// files: each is transpiled with the project's TypeScript on require. Transpiled text is cached
// on disk by path, size and mtime, because every agent a test starts spawns its workers afresh.
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
// The compiler is loaded only on a cache miss: loading it costs a second per worker.
const tsVersion = require('typescript/package.json').version;

const cacheDir = path.join(os.tmpdir(), `handshaked-ts-cache-${typeof process.getuid === 'function' ? process.getuid() : 0}`);
fs.mkdirSync(cacheDir, { recursive: true, mode: 0o700 });

require.extensions['.ts'] = function register(module, filename) {
  const st = fs.statSync(filename);
  const key = crypto.createHash('sha256').update(`${tsVersion}\0${filename}\0${st.size}\0${st.mtimeMs}`).digest('hex');
  const cached = path.join(cacheDir, `${key}.js`);
  let code;
  try {
    code = fs.readFileSync(cached, 'utf8');
  } catch {
    const ts = require('typescript');
    code = ts.transpileModule(fs.readFileSync(filename, 'utf8'), {
      compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true, sourceMap: false },
      fileName: filename,
    }).outputText;
    const tmp = `${cached}.${process.pid}.${Math.random().toString(16).slice(2)}`;
    fs.writeFileSync(tmp, code);
    fs.renameSync(tmp, cached);
  }
  module._compile(code, filename);
};
