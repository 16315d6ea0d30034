/**
 * The profiles a configuration gives: one for the main sections, one per `[namespace.NAME]`
 * section (ns-config.ts), each with its identities decoded. Built by the main thread and by each
 * worker thread from the same configuration, so a tenant's handshake can run on either.
 */
import type { AgentConfig, ConfigWarning } from './config';
import type { Profile } from './handshake';
import { identityFilePaths, loadIdentities } from './identities';
import { SELF_NETNS } from './netns';
import { applyNamespaceOverride } from './ns-config';

export interface Profiles {
  /** The main sections': the agent-wide settings, and what a namespace without a section uses. */
  readonly base: Profile;
  /**
   * What a request from each namespace uses, by label: the agent's own (`self`, the base unless
   * it has a section) and every namespace with a section.
   */
  readonly byNetns: ReadonlyMap<string, Profile>;
  /** Every identity file some profile names, each once (a file a section inherits is one file). */
  readonly files: readonly string[];
}

/** Throws ConfigError (FILE:LINE) when any identity does not load. */
export function buildProfiles(config: AgentConfig, warn: (w: ConfigWarning) => void = () => undefined): Profiles {
  // A key file several profiles use (a namespace inherits it, or names it again) is checked once.
  const checkedKeys = new Set<string>();
  const base: Profile = Object.freeze({ config, identities: loadIdentities(config, warn, checkedKeys) });
  const byNetns = new Map<string, Profile>([[SELF_NETNS, base]]);
  for (const o of config.namespaceOverrides) {
    const c = applyNamespaceOverride(config, o);
    byNetns.set(o.label, Object.freeze({ config: c, identities: loadIdentities(c, warn, checkedKeys) }));
  }
  const files = [...new Set([base, ...byNetns.values()].flatMap((p) => identityFilePaths(p.config)))];
  return { base, byNetns, files };
}

/** The profile for a request from namespace `netns` (absent: the agent's own). */
export function profileFor(p: Profiles, netns: string | undefined): Profile {
  return p.byNetns.get(netns ?? SELF_NETNS) ?? p.base;
}
