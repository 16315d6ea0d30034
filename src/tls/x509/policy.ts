/**
 * Certificate policy processing (RFC 5280 §6.1.2–§6.1.5) with the inputs a TLS handshake has:
 * user-initial-policy-set = {anyPolicy}, initial-explicit-policy, initial-policy-mapping-inhibit
 * and initial-any-policy-inhibit all false. So policies matter only when a CA on the path asks
 * for them (requireExplicitPolicy, inhibitPolicyMapping, inhibitAnyPolicy, policyMappings).
 *
 * The valid_policy_tree is kept as what path validation needs of it: the set of policies the
 * next certificate may assert (each node's expected_policy_set, joined) and whether an anyPolicy
 * node exists at the current depth. Qualifiers are never consulted, so the rest of the tree
 * carries no information for us. The tree is NULL when that set is empty and there is no
 * anyPolicy node.
 */
import type { Certificate } from './cert';
import { isSelfIssued } from './cert';
import { OID } from './oids';

/** undefined when the path satisfies the policy constraints on it, else why not. `path`: leaf first, anchor last. */
export function checkPolicies(path: Certificate[]): string | undefined {
  // The trust anchor is not part of the RFC's path; certificate i (1..n) is path[n - i].
  const n = path.length - 1;
  if (n < 1) return undefined;
  let explicitPolicy = n + 1;
  let inhibitAny = n + 1;
  let policyMapping = n + 1;
  let expected = new Set<string>();
  let anyNode = true;
  let tree = true; // valid_policy_tree != NULL

  for (let i = 1; i <= n; i++) {
    const cert = path[n - i];
    const last = i === n;
    const selfIssued = isSelfIssued(cert);
    // §6.1.3 (d), (e): intersect with this certificate's policies.
    if (tree && cert.policies) {
      const next = new Set<string>();
      for (const p of cert.policies) if (p !== OID.anyPolicy && (anyNode || expected.has(p))) next.add(p);
      const anyAllowed = cert.policies.includes(OID.anyPolicy) && (inhibitAny > 0 || (!last && selfIssued));
      if (anyAllowed) for (const p of expected) next.add(p);
      anyNode = anyNode && anyAllowed;
      expected = next;
      tree = expected.size > 0 || anyNode;
    } else {
      tree = false;
      expected = new Set();
      anyNode = false;
    }
    // §6.1.3 (f)
    if (explicitPolicy === 0 && !tree) {
      return `certificate ${i} of ${n} on the path asserts no acceptable policy, and a CA requires an explicit policy`;
    }
    if (last) {
      // §6.1.5 (a), (b), (g)
      if (explicitPolicy > 0) explicitPolicy--;
      if (cert.policyConstraints?.requireExplicitPolicy === 0) explicitPolicy = 0;
      if (explicitPolicy === 0 && !tree) return 'the end-entity certificate asserts no acceptable policy, and a CA requires an explicit policy';
      return undefined;
    }
    // §6.1.4 (a), (b): policy mappings.
    if (cert.policyMappings) {
      for (const [from, to] of cert.policyMappings) {
        if (from === OID.anyPolicy || to === OID.anyPolicy) return 'a policy mapping to or from anyPolicy is not allowed';
      }
      if (tree) expected = mapPolicies(expected, anyNode, cert.policyMappings, policyMapping > 0);
      tree = expected.size > 0 || anyNode;
    }
    // §6.1.4 (h), (i), (j): counters.
    if (!selfIssued) {
      if (explicitPolicy > 0) explicitPolicy--;
      if (policyMapping > 0) policyMapping--;
      if (inhibitAny > 0) inhibitAny--;
    }
    const pc = cert.policyConstraints;
    if (pc?.requireExplicitPolicy !== undefined) explicitPolicy = Math.min(explicitPolicy, pc.requireExplicitPolicy);
    if (pc?.inhibitPolicyMapping !== undefined) policyMapping = Math.min(policyMapping, pc.inhibitPolicyMapping);
    if (cert.inhibitAnyPolicy !== undefined) inhibitAny = Math.min(inhibitAny, cert.inhibitAnyPolicy);
  }
  return undefined;
}

/**
 * §6.1.4 (b): with mapping allowed, an issuer-domain policy is replaced by the subject-domain
 * policies it maps to (also when only the anyPolicy node could have carried it); with mapping
 * inhibited, the mapped issuer-domain policies are deleted.
 */
function mapPolicies(expected: Set<string>, anyNode: boolean, mappings: Array<[string, string]>, allowed: boolean): Set<string> {
  const targets = new Map<string, string[]>();
  for (const [from, to] of mappings) targets.set(from, [...(targets.get(from) ?? []), to]);
  const out = new Set<string>();
  for (const p of expected) if (!targets.has(p)) out.add(p);
  if (!allowed) return out;
  for (const [from, tos] of targets) if (expected.has(from) || anyNode) for (const t of tos) out.add(t);
  return out;
}
