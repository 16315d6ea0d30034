/**
 * `npm run bench`: every benchmark. There is one so far, the TLS handshake comparison
 * (`npm run bench:tls`, src/bench/tls.ts), which runs on import and takes the same options.
 */
import './tls';
