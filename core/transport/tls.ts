// TLS on TCP: the TCP transport over a tls.Server. The certificate is read
// from files and can be read again while running (setSecureContext): new
// handshakes get the new one, open connections keep theirs. A file that does
// not load keeps the certificate in use and says which file and why.
import { readFileSync } from 'node:fs'
import { X509Certificate, createPrivateKey } from 'node:crypto'
import type net from 'node:net'
import tls from 'node:tls'
import type { FrameCodec } from '../wire/codec.ts'
import { EnetError, describe } from '../errors.ts'
import type { TransportHost } from './context.ts'
import { TcpTransport } from './tcp.ts'
import { admit, remoteText } from './stream.ts'

export interface TlsFiles {
  cert?: string
  key?: string
  ca?: string
}

interface SecureFiles {
  cert: Buffer
  key: Buffer
  ca?: Buffer
}

/** Read and check each file; throws ENET_ERR_TLS naming the file that is wrong. */
export function loadCertificate(files: TlsFiles): SecureFiles {
  const cert = readPem('cert', files.cert, (pem) => new X509Certificate(pem))
  const key = readPem('key', files.key, (pem) => createPrivateKey(pem))
  const ca = files.ca === undefined ? undefined : readPem('ca', files.ca, (pem) => new X509Certificate(pem))
  try {
    tls.createSecureContext({ cert, key, ca })
  } catch (err) {
    throw new EnetError('ENET_ERR_TLS', [`tls.key ${files.key} does not go with tls.cert ${files.cert}: ${describe(err)}`], { cause: err })
  }
  return ca === undefined ? { cert, key } : { cert, key, ca }
}

function readPem(what: 'cert' | 'key' | 'ca', path: string | undefined, check: (pem: Buffer) => unknown): Buffer {
  if (path === undefined) throw new EnetError('ENET_ERR_TLS', [`tls.${what}: no file given`])
  let pem: Buffer
  try {
    pem = readFileSync(path)
  } catch (err) {
    throw new EnetError('ENET_ERR_TLS', [`tls.${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? describe(err)}`], { cause: err })
  }
  try {
    check(pem)
  } catch (err) {
    throw new EnetError('ENET_ERR_TLS', [`tls.${what} ${path}: not a PEM ${what === 'key' ? 'private key' : 'certificate'} (${describe(err)})`], { cause: err })
  }
  return pem
}

export class TlsTransport extends TcpTransport {
  /** Never listens: the TCP server hands it the sockets it admits, for their handshake. */
  private readonly secure: tls.Server
  private files: TlsFiles

  /** Throws ENET_ERR_TLS when the files do not load: a server cannot start without its certificate. */
  constructor(host: TransportHost, codec: FrameCodec, files: TlsFiles) {
    super(host, codec, 'tls')
    this.files = files
    const mutual = files.ca !== undefined
    this.secure = tls.createServer({
      ...loadCertificate(files),
      requestCert: mutual,
      rejectUnauthorized: mutual,
      // A handshake is a frame that has to finish in time too.
      handshakeTimeout: host.config.limits.frameTimeoutMs,
    })
    this.secure.on('secureConnection', (socket: tls.TLSSocket) => this.accept(socket))
    this.secure.on('tlsClientError', (err: Error & { code?: string }, socket: tls.TLSSocket) => {
      // A listener here takes over from Node's default, which destroys the socket.
      socket.destroy()
      host.count('refused.tls-handshake')
      host.rlog.warn('tls-handshake', { remote: remoteText({ address: socket.remoteAddress ?? '?', port: socket.remotePort ?? 0 }), code: err.code }, `tls handshake failed: ${err.message}`)
    })
  }

  /** Over the limits: refused before the handshake costs anything; accept() checks again after it. */
  protected override arrived(socket: net.Socket): void {
    if (admit(this.host, socket.remoteAddress, socket.remotePort)) this.secure.emit('connection', socket)
    else socket.destroy()
  }

  /**
   * Read the certificate files again (or the ones given). True when the new
   * certificate serves from the next handshake on; false when a file did not
   * load: the one in use stays, and the error line names the file.
   */
  reloadCertificate(files: TlsFiles = this.files): boolean {
    // New paths are followed even when they do not load yet: the next save of them is what counts.
    this.files = files
    let loaded: SecureFiles
    try {
      loaded = loadCertificate(files)
    } catch (err) {
      this.host.log.error({ err, cert: files.cert, key: files.key, ca: files.ca }, `${describe(err)}; keeping the certificate in use`)
      return false
    }
    this.secure.setSecureContext(loaded)
    this.host.log.info({ cert: files.cert, key: files.key, ca: files.ca }, 'tls certificate reloaded')
    return true
  }
}
