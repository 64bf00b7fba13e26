// Throwaway certificates made by the openssl CLI in a temp folder: nothing
// private is committed. Fails loudly when openssl is missing (.ci/run installs it).
import { execFileSync } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll } from 'vitest'

export interface Cert {
  cert: string
  key: string
  /** The certificate's PEM text. */
  pem: string
  /** SHA-256 fingerprint as tls.TLSSocket#getPeerCertificate() gives it. */
  fingerprint: string
}

function openssl(args: string[]): void {
  try {
    execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] })
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: Buffer }
    if (e.code === 'ENOENT') throw new Error('the openssl CLI is missing: install it (apt-get install openssl); TLS tests make their certificates with it')
    throw new Error(`openssl ${args.join(' ')} failed: ${e.stderr?.toString() ?? e.message}`)
  }
}

/** Call once per file: a temp folder removed after the file's tests. */
export function useCerts() {
  const dir = mkdtempSync(join(tmpdir(), 'enet-certs-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))
  let n = 0
  return {
    dir,
    /** A P-256 certificate, self-signed unless `signedBy` is given; valid for `san`. */
    make(name: string, opts: { cn?: string; san?: string; signedBy?: Cert } = {}): Cert {
      const cert = join(dir, `${name}-${n}.crt`)
      const key = join(dir, `${name}-${n++}.key`)
      const args = ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', `/CN=${opts.cn ?? name}`]
      args.push('-addext', `subjectAltName=${opts.san ?? 'DNS:localhost,IP:127.0.0.1'}`)
      if (opts.signedBy) args.push('-CA', opts.signedBy.cert, '-CAkey', opts.signedBy.key)
      args.push('-keyout', key, '-out', cert)
      openssl(args)
      const pem = readFileSync(cert, 'utf8')
      return { cert, key, pem, fingerprint: new X509Certificate(pem).fingerprint256 }
    },
  }
}
