// A throwaway certificate authority made with the openssl CLI for the "chain to another root" cases:
// a root and a leaf that are well-formed and correctly signed, just not by the platform vendor.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';

export interface ThrowawayChain {
  root: X509Certificate;
  leaf: X509Certificate;
  leafKey: KeyObject;
}

/** `curve` P-256 or P-384; `rootSubject`/`leafSubject` in openssl's /K=V form. */
export function throwawayChain(curve: 'P-256' | 'P-384', rootSubject = '/CN=Throwaway Root', leafSubject = '/CN=Throwaway Leaf'): ThrowawayChain {
  const dir = mkdtempSync(join(tmpdir(), 'shield-throwaway-ca-'));
  try {
    const openssl = (...args: string[]): void => {
      execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    };
    const keyArgs = ['-newkey', 'ec', '-pkeyopt', `ec_paramgen_curve:${curve}`, '-nodes'];
    openssl('req', '-x509', ...keyArgs, '-keyout', 'root.key', '-out', 'root.pem', '-days', '36500', '-subj', rootSubject,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
    openssl('req', '-new', ...keyArgs, '-keyout', 'leaf.key', '-out', 'leaf.csr', '-subj', leafSubject);
    writeFileSync(join(dir, 'leaf.ext'), 'basicConstraints=critical,CA:FALSE\n');
    openssl('x509', '-req', '-in', 'leaf.csr', '-CA', 'root.pem', '-CAkey', 'root.key', '-set_serial', '4242', '-days', '36500', '-extfile', 'leaf.ext', '-out', 'leaf.pem');
    return {
      root: new X509Certificate(readFileSync(join(dir, 'root.pem'))),
      leaf: new X509Certificate(readFileSync(join(dir, 'leaf.pem'))),
      leafKey: createPrivateKey(readFileSync(join(dir, 'leaf.key'))),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
