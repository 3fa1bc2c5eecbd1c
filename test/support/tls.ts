// A certificate authority and server certificates made here, with the
// openssl CLI, for the tests of the wire API over HTTPS: the CA's PEM is what
// a client trusts (the Muse client through SSL_CERT_FILE, Node through `ca`).
// Python 3.13+ checks certificates strictly (VERIFY_X509_STRICT): the CA has
// its key usage, the server certificate its key identifiers.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export interface TestCa {
  dir: string;
  /** The CA certificate (PEM file) a client trusts. */
  caFile: string;
  /** A server certificate for 127.0.0.1, ::1 and localhost, signed by the CA; `name` tells issued ones apart (its CN). */
  issue(name: string): { certFile: string; keyFile: string };
}

function openssl(dir: string, ...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

export function testCa(dir: string): TestCa {
  fs.mkdirSync(dir, { recursive: true });
  openssl(
    dir,
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    '2',
    '-subj',
    '/CN=musehub test CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  );
  return {
    dir,
    caFile: path.join(dir, 'ca.pem'),
    issue(name) {
      const ext = path.join(dir, `${name}.ext`);
      fs.writeFileSync(ext, 'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid,issuer\n');
      openssl(dir, 'req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
      openssl(dir, 'x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', '-extfile', ext);
      return { certFile: path.join(dir, `${name}.pem`), keyFile: path.join(dir, `${name}.key`) };
    },
  };
}
