/**
 * A child Node process running this repository's TypeScript without a build: the child compiles
 * each .ts module it requires with `typescript` itself (ts-jest exists only in the jest worker).
 * Used where a test needs a process of its own: a lowered RLIMIT_NOFILE, real signals.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import path from 'node:path';

const ROOT = path.join(__dirname, '..', '..');

const HOOK = [
  "const ts=require('typescript'),fs=require('fs'),E=process.env;",
  "require.extensions['.ts']=(m,f)=>m._compile(ts.transpileModule(fs.readFileSync(f,'utf8'),",
  '{compilerOptions:{module:ts.ModuleKind.CommonJS,target:ts.ScriptTarget.ES2022,esModuleInterop:true}}).outputText,f);',
  'const m=require(E.HSD_CHILD);',
  'if(E.HSD_CLI)m.buildCli(JSON.parse(E.HSD_CLI)).parseAsync();',
].join('');

export interface TsChildOptions {
  /** The module to load, relative to the repository root. */
  entry: string;
  /** Run the handshaked command line with these arguments (entry must be src/cli/main.ts). */
  cli?: string[];
  env?: NodeJS.ProcessEnv;
  /** RLIMIT_NOFILE (soft and hard) for the child, through prlimit(1). */
  nofile?: number;
}

export interface TsChild {
  child: ChildProcessWithoutNullStreams;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (or the signal name). */
  exited: Promise<number | string>;
}

export function spawnTs(opts: TsChildOptions): TsChild {
  const node = [process.execPath, '-e', HOOK];
  const [cmd, ...args] = opts.nofile !== undefined ? ['prlimit', `--nofile=${opts.nofile}:${opts.nofile}`, ...node] : node;
  const child = spawn(cmd, args, {
    cwd: ROOT,
    env: { ...process.env, ...opts.env, HSD_CHILD: path.join(ROOT, opts.entry), ...(opts.cli ? { HSD_CLI: JSON.stringify(opts.cli) } : {}) },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | string>((r) => child.once('exit', (code, sig) => r(code ?? sig ?? -1)));
  return { child, stdout: () => out, stderr: () => err, exited };
}
