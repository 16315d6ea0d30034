/**
 * `handshaked serve --check-config`: load the configuration exactly as `serve` would (file,
 * certificates, keys, trust stores, patterns), print what the agent will do with it, and exit.
 *
 * The resolution is a list of rows (scope, setting, value, where it was set), so further scopes
 * (per-namespace sections, say) add rows without changing the format. Text output aligns the
 * columns; `--log-format json` prints one JSON object per row instead.
 */
import { loadConfig, type AgentConfig, type ConfigWarning, type Located } from '../agent/config';
import type { Identities, RoleIdentity } from '../agent/identities';
import { certificateNames, describeNames, type PeerCertificate } from '../agent/peer-policy';
import { buildProfiles, profileFor, type Profiles } from '../agent/profiles';

export interface CheckRow {
  /** Whose setting: "agent" for the whole agent; other scopes (a namespace) name themselves. */
  readonly scope: string;
  readonly setting: string;
  readonly value: string;
  /** FILE:LINE the value came from; "default" when nothing set it. */
  readonly from: string;
}

const at = (loc: { file: string; line: number } | undefined): string => (loc ? `${loc.file}:${loc.line}` : 'default');

/** The rows for one scope's roles: certificates (and what picks them), trust, allow lists. */
function roleRows(scope: string, config: Pick<AgentConfig, 'client' | 'server' | 'file'>, ids: Identities): CheckRow[] {
  const rows: CheckRow[] = [];
  const trust = (role: 'client' | 'server', loc: Located<string> | undefined, id: RoleIdentity) =>
    rows.push({
      scope,
      setting: `${role} trust`,
      value: loc ? `${loc.value} (${id.trust?.anchors.length ?? 0} anchors${id.crls?.length ? `, ${id.crls.length} CRLs` : ''})` : 'system trust store',
      from: at(loc),
    });
  const cert = (c: PeerCertificate) =>
    describeNames(certificateNames((c.certificate ?? c.pqCertificate)?.chain[0] as Buffer)) + (c.certificate && c.pqCertificate ? ' (+ ML-DSA pair)' : '');
  const servers = ids.server.certificates;
  servers.forEach((c, i) =>
    rows.push({
      scope,
      setting: 'server certificate',
      value: `${c.section}: ${cert(c)}; ${i === 0 ? 'for SNI naming it, and the default for any other or no SNI' : 'for SNI naming it'}`,
      from: `${c.file}:${c.line}`,
    }),
  );
  if (servers.length === 0) rows.push({ scope, setting: 'server certificate', value: 'none: server handshakes with certificates fail (access_denied)', from: 'default' });
  trust('server', config.server.truststore, ids.server);
  rows.push({ scope, setting: 'server x509.client_certificate', value: config.server.clientCertificate ?? 'request', from: config.server.clientCertificate ? (config.file ?? 'default') : 'default' });
  const access = ids.server.access;
  rows.push({
    scope,
    setting: 'server x509.allowed_peers',
    value: access?.allowedPeers ? `only ${access.allowedPeers.value.map((p) => p.text).join('; ')}` : 'any client the trust store verifies',
    from: at(access?.allowedPeers),
  });
  rows.push({
    scope,
    setting: 'server psk.allowed_identities',
    value: access?.allowedPskIdentities ? `only ${access.allowedPskIdentities.value.map((p) => p.text).join('; ')}` : 'any identity found in the keyrings',
    from: at(access?.allowedPskIdentities),
  });
  for (const c of ids.client.certificates) {
    rows.push({
      scope,
      setting: 'client certificate',
      value: `${c.section}: ${cert(c)}; ${c.peers.length ? `for servers ${c.peers.map((p) => p.text).join('; ')}` : 'for every other server'}`,
      from: `${c.file}:${c.line}`,
    });
  }
  if (!ids.client.certificates.some((c) => c.peers.length === 0)) {
    rows.push({ scope, setting: 'client certificate', value: 'none for other servers: x509 client handshakes to them fail (EIO)', from: 'default' });
  }
  trust('client', config.client.truststore, ids.client);
  return rows;
}

/** The agent-wide rows: limits and logging besides the roles. */
function agentRows(config: AgentConfig, ids: Identities): CheckRow[] {
  const scope = 'agent';
  const plain = (setting: string, value: string | number | undefined) => ({ scope, setting, value: String(value ?? '(unset)'), from: config.file ?? 'default' });
  return [
    plain('configuration file', config.file ?? '(none: built-in defaults)'),
    ...roleRows(scope, config, ids),
    plain('keyrings', config.keyrings.length ? config.keyrings.join('; ') : '(only .nvme, .nfs, .nfsd)'),
    plain('max_inflight', config.maxInflight),
    plain('max_handshakes', config.maxHandshakes),
    plain('workers', config.workers),
    plain('default_timeout_ms', config.defaultTimeoutMs),
    plain('peer_idle_timeout_ms', config.peerIdleTimeoutMs),
    plain('cipher_suites', config.cipherSuites?.join('; ') ?? '(engine default)'),
    plain('groups', config.groups?.join('; ') ?? '(engine default)'),
    plain('namespaces', config.namespaces.mode === 'list' ? config.namespaces.entries.join('; ') : config.namespaces.mode),
  ];
}

/** One scope per [namespace.NAME] section: what requests from that namespace use. */
function namespaceRows(config: AgentConfig, profiles: Profiles): CheckRow[] {
  return config.namespaceOverrides.flatMap((o) => {
    const { config: c, identities } = profileFor(profiles, o.label);
    const scope = `netns ${o.label}`;
    return [
      ...roleRows(scope, c, identities),
      { scope, setting: 'keyrings', value: c.keyrings.length ? c.keyrings.join('; ') : '(only .nvme, .nfs, .nfsd)', from: o.keyrings ? `${o.file}:${o.line}` : (config.file ?? 'default') },
    ];
  });
}

function formatRows(rows: readonly CheckRow[], format: 'text' | 'json'): string {
  if (format === 'json') return rows.map((r) => JSON.stringify(r)).join('\n') + '\n';
  const w = [Math.max(5, ...rows.map((r) => r.scope.length)), Math.max(7, ...rows.map((r) => r.setting.length))];
  const line = (a: string, b: string, c: string, d: string) => `${a.padEnd(w[0])}  ${b.padEnd(w[1])}  ${c}  [${d}]`;
  return [line('SCOPE', 'SETTING', 'VALUE', 'FROM'), ...rows.map((r) => line(r.scope, r.setting, r.value, r.from))].join('\n') + '\n';
}

export interface CheckResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Loads as `serve` does, with the daemon's own buildProfiles, so a file one refuses the other
 * refuses with the same message; 0 and the table when valid, 1 and `FILE:LINE: reason` when not.
 */
export function checkConfig(opts: { path?: string; searchPaths?: readonly string[]; format: 'text' | 'json' }): CheckResult {
  const warnings: ConfigWarning[] = [];
  let out: string;
  let notices: readonly string[] = [];
  try {
    const loaded = loadConfig({ path: opts.path, searchPaths: opts.searchPaths });
    warnings.push(...loaded.warnings);
    notices = loaded.notices;
    const profiles = buildProfiles(loaded.config, (w) => warnings.push(w));
    out = formatRows([...agentRows(loaded.config, profiles.base.identities), ...namespaceRows(loaded.config, profiles)], opts.format);
  } catch (e) {
    return { code: 1, stdout: '', stderr: `${warningLines(warnings)}handshaked serve --check-config: ${(e as Error).message}\n` };
  }
  return { code: 0, stdout: out, stderr: warningLines(warnings) + notices.map((n) => `notice: ${n}\n`).join('') };
}

function warningLines(ws: readonly ConfigWarning[]): string {
  return ws.map((w) => `${w.file}:${w.line}: warning: ${w.message}\n`).join('');
}
