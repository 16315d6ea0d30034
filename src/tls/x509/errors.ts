/**
 * The one error type of the certificate library. `code` says which kind of input was wrong (so a
 * caller can map it to an alert or an exit status); the message names the structure and, for DER,
 * the byte offset, and for files, the path. Messages never carry key material.
 */
export type X509ErrorCode =
  /** DER framing or an ASN.1 value that does not follow the X.509 / CRL grammar. */
  | 'X509_DER'
  /** PEM armour that is missing, unterminated or not valid base64. */
  | 'X509_PEM'
  /** A file or directory that cannot be read, or holds nothing usable. */
  | 'X509_FILE'
  /** A private key that cannot be loaded (format, encryption). */
  | 'X509_KEY';

export class X509Error extends Error {
  constructor(
    readonly code: X509ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'X509Error';
  }
}
