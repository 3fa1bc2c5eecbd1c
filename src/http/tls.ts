// The wire API over HTTPS (HTTP_TLS_CERT_FILE, HTTP_TLS_KEY_FILE): the pair
// is read and checked before the server listens (a missing file, a PEM that
// does not parse, a key that is not the certificate's: each refused at start
// with the setting and the file named), and again on SIGHUP, when a pair that
// loads replaces the one in use for new connections and one that does not is
// reported and ignored.
import fs from 'node:fs';
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';

export interface TlsFiles {
  certFile: string;
  keyFile: string;
}

export interface TlsPair {
  cert: Buffer;
  key: Buffer;
  /** The served certificate in words: subject, expiry, SHA-256 fingerprint. */
  summary: string;
}

export class TlsLoadError extends Error {
  override name = 'TlsLoadError';
}

function readPem(setting: string, file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new TlsLoadError(`${setting} ${JSON.stringify(file)} cannot be read: ${(err as Error).message}`);
  }
}

/** Reads and checks the pair: the certificate parses, the key parses and is the certificate's. */
export function loadTls(files: TlsFiles): TlsPair {
  const cert = readPem('HTTP_TLS_CERT_FILE', files.certFile);
  const key = readPem('HTTP_TLS_KEY_FILE', files.keyFile);
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (err) {
    throw new TlsLoadError(`HTTP_TLS_CERT_FILE ${JSON.stringify(files.certFile)} is not a PEM certificate: ${(err as Error).message}`);
  }
  try {
    // OpenSSL checks the key against the certificate here ("key values mismatch").
    tls.createSecureContext({ cert, key });
  } catch (err) {
    throw new TlsLoadError(`HTTP_TLS_KEY_FILE ${JSON.stringify(files.keyFile)} does not go with HTTP_TLS_CERT_FILE ${JSON.stringify(files.certFile)}: ${(err as Error).message}`);
  }
  return { cert, key, summary: `${x509.subject.replaceAll('\n', ', ')}, valid to ${x509.validTo}, SHA-256 ${x509.fingerprint256}` };
}

/** The pair read again for new connections; the one in use stays when it does not load (thrown). */
export function reloadTls(server: tls.Server, files: TlsFiles): TlsPair {
  const pair = loadTls(files);
  server.setSecureContext({ cert: pair.cert, key: pair.key });
  return pair;
}
