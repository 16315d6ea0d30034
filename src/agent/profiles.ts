/**
 * The profiles a configuration gives: one for the main sections, one per `[namespace.NAME]`
 * section (ns-config.ts), each with its identities decoded. Built by the main thread and by each
 * worker thread from the same configuration, so a tenant's handshake can run on either.
 */
import type { AgentConfig, ConfigWarning } from './config';
import type { Profile } from './handshake';
import { loadIdentities } from './identities';
import { SELF_NETNS } from './netns';
import { applyNamespaceOverride } from './ns-config';

export interface Profiles {
  readonly base: Profile;
  /** By namespace label; only namespaces with a section. */
  readonly byNetns: ReadonlyMap<string, Profile>;
}

/** Throws ConfigError (FILE:LINE) when any identity does not load. */
export function buildProfiles(config: AgentConfig, warn: (w: ConfigWarning) => void = () => undefined): Profiles {
  const base: Profile = Object.freeze({ config, identities: loadIdentities(config, warn) });
  const byNetns = new Map<string, Profile>();
  for (const o of config.namespaceOverrides) {
    const c = applyNamespaceOverride(config, o);
    byNetns.set(o.label, Object.freeze({ config: c, identities: loadIdentities(c, warn) }));
  }
  return { base, byNetns };
}

/** The profile for a request from namespace `netns` (absent: the agent's own). */
export function profileFor(p: Profiles, netns: string | undefined): Profile {
  return p.byNetns.get(netns ?? SELF_NETNS) ?? p.base;
}
