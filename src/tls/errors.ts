/**
 * Alert codes and the engine's failure helper. Every decision to abort a handshake goes
 * through `fail`, so each failure carries the alert that goes on the wire.
 */
import { TlsError, type AlertName } from './api';

export const ALERT_CODES: Record<AlertName, number> = {
  close_notify: 0,
  unexpected_message: 10,
  bad_record_mac: 20,
  record_overflow: 22,
  handshake_failure: 40,
  bad_certificate: 42,
  unsupported_certificate: 43,
  certificate_revoked: 44,
  certificate_expired: 45,
  certificate_unknown: 46,
  illegal_parameter: 47,
  unknown_ca: 48,
  access_denied: 49,
  decode_error: 50,
  decrypt_error: 51,
  protocol_version: 70,
  insufficient_security: 71,
  internal_error: 80,
  inappropriate_fallback: 86,
  user_canceled: 90,
  missing_extension: 109,
  unsupported_extension: 110,
  unrecognized_name: 112,
  bad_certificate_status_response: 113,
  unknown_psk_identity: 115,
  certificate_required: 116,
  no_application_protocol: 120,
};

const ALERT_BY_CODE = new Map<number, AlertName>(
  Object.entries(ALERT_CODES).map(([name, code]) => [code, name as AlertName]),
);

export function alertName(code: number): AlertName | undefined {
  return ALERT_BY_CODE.get(code);
}

/** Throws the TlsError for an alert we are going to send. */
export function fail(alert: AlertName, message: string): never {
  throw new TlsError(alert, message);
}

/** Wraps anything thrown by a lower layer (node:crypto, a bug) as internal_error. */
export function asTlsError(err: unknown): TlsError {
  if (err instanceof TlsError) return err;
  const msg = err instanceof Error ? err.message : String(err);
  return new TlsError('internal_error', `internal error: ${msg}`);
}
