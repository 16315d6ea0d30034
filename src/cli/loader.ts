#!/usr/bin/env node
/**
 * The `handshaked` executable as built (`npm run build` bundles this file into dist/cli/main.js):
 * it loads the bundled program beside it, dist/cli/program.js, through the V8 code cache when
 * there is a cache directory (src/cli/code-cache.ts). Run from the sources, src/cli/main.ts is
 * the program itself and this file is not used.
 */
import path from 'node:path';
import { runBundle } from './code-cache';

runBundle(path.join(__dirname, 'program.js'), module, require);
