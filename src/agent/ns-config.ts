/**
 * `[namespace.NAME]` sections: what requests from one network namespace use instead of the
 * file's `[authenticate]`, `[authenticate.client]` and `[authenticate.server]` settings, so a
 * tenant's NFS mounts are verified with the tenant's trust store and present the tenant's
 * certificate. NAME is the namespace's label (docs/serve.md "Network namespaces"): a /run/netns
 * name, `ino:<n>`, or `self`.
 *
 * Keys: `keyrings`, and `client.` / `server.` followed by an `[authenticate.*]` x509 key
 * (`client.x509.truststore`, `server.x509.certificate`, ...). A key not set is inherited from the
 * main sections, except that setting a role's x509.certificate also drops that role's inherited
 * x509.pq.* identity and its [authenticate.ROLE.certificate.NAME] pairs: a tenant's peers must
 * never be shown one of the host's certificates.
 */
import type { AgentConfig, ConfigWarning, Located, X509Settings } from './config';
import { splitList, type KeyFileEntry, type KeyFileGroup } from './keyfile';
import { isNetnsLabel } from './netns';

export const NAMESPACE_SECTION = 'namespace.';

type X509Override = Partial<Pick<X509Settings, 'truststore' | 'crl' | 'certificate' | 'privateKey' | 'pqCertificate' | 'pqPrivateKey'>>;

export interface NamespaceOverride {
  readonly label: string;
  readonly file: string;
  readonly line: number;
  readonly keyrings?: readonly string[];
  readonly client: X509Override;
  readonly server: X509Override;
}

/** What config.ts hands over (passed in, so this module does not import config.ts back at run time). */
export interface SectionContext {
  readonly file: string;
  readonly warnings: ConfigWarning[];
  /** `x509.*` key → X509Settings field, as in [authenticate.*]. */
  readonly x509Keys: Readonly<Record<string, keyof X509Settings>>;
  /** A path value, located; throws when it is empty, saying what removing the line does `instead` (config.ts's path keys). */
  readonly path: (e: KeyFileEntry, key: string, instead: string) => Located<string>;
  /** The ConfigError (FILE:LINE: why) to throw. */
  readonly error: (line: number | undefined, why: string) => Error;
}

/** The `[authenticate.*]` x509 keys a section may set after `client.`/`server.`: the paths, not x509.strict. */
function namespaceX509Keys(x509Keys: Readonly<Record<string, unknown>>): string[] {
  return Object.keys(x509Keys).filter((k) => k !== 'x509.strict');
}

/** Every key a `[namespace.NAME]` section may set, given `[authenticate.*]`'s x509 keys. */
export function namespaceKeys(x509Keys: Readonly<Record<string, unknown>>): string[] {
  const x509 = namespaceX509Keys(x509Keys);
  return ['keyrings', ...(['client', 'server'] as const).flatMap((role) => x509.map((k) => `${role}.${k}`))];
}

/**
 * One `[namespace.NAME]` section. Unknown keys warn (as elsewhere in the file); bad values throw
 * ctx.error. A certificate without its key is left to config.ts's pair check, as in every section.
 */
export function parseNamespaceSection(group: KeyFileGroup, ctx: SectionContext): NamespaceOverride {
  const { file, warnings, x509Keys } = ctx;
  const label = group.name.slice(NAMESPACE_SECTION.length);
  if (!isNetnsLabel(label)) {
    throw ctx.error(group.line, `[${group.name}]: ${JSON.stringify(label)} is not a namespace label (a /run/netns name, ino:<number> or self)`);
  }
  const o = { label, file, line: group.line, client: {} as Record<string, Located<string>>, server: {} as Record<string, Located<string>>, keyrings: undefined as string[] | undefined };
  for (const [key, e] of group.entries) {
    if (key === 'keyrings') {
      o.keyrings = splitList(e.value);
      continue;
    }
    const m = /^(client|server)\.(.+)$/.exec(key);
    const field = m && namespaceX509Keys(x509Keys).includes(m[2]) ? x509Keys[m[2]] : undefined;
    if (!m || !field) {
      warnings.push({ file, line: e.line, message: `unknown key "${key}" in [${group.name}] ignored (keyrings, client.x509.* and server.x509.* are known)` });
      continue;
    }
    const setting = `[${group.name}] ${key}`;
    o[m[1] as 'client' | 'server'][field] = { ...ctx.path(e, setting, `inherit [authenticate.${m[1]}]`), setting };
  }
  return { label, file, line: group.line, client: o.client, server: o.server, ...(o.keyrings ? { keyrings: o.keyrings } : {}) };
}

function overrideRole(base: X509Settings, o: X509Override): X509Settings {
  const ownIdentity = o.certificate !== undefined;
  const merged: X509Settings = {
    ...base,
    ...(ownIdentity ? { pqCertificate: undefined, pqPrivateKey: undefined, alternates: undefined } : {}),
    ...o,
  };
  return merged;
}

/** The configuration requests from the override's namespace use: the base with the section's keys in place. */
export function applyNamespaceOverride(base: AgentConfig, o: NamespaceOverride): AgentConfig {
  return Object.freeze({
    ...base,
    keyrings: o.keyrings ?? base.keyrings,
    client: Object.freeze(overrideRole(base.client, o.client)),
    server: Object.freeze(overrideRole(base.server, o.server)),
  });
}
