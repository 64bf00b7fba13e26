// A folder only this process's user may enter: what the transpile cache and
// the admin socket live in. Made with mode 0700; one that already exists must
// be a real folder (not a symbolic link) of this uid, and is closed to 0700.
import { chmodSync, lstatSync, mkdirSync } from 'node:fs'
import { dirname } from 'node:path'

/** Make or check `dir`; returns why it cannot be trusted, or null when it is ours alone. */
export function ensurePrivateDir(dir: string): string | null {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    const st = lstatSync(dir)
    if (st.isSymbolicLink()) return 'is a symbolic link'
    if (!st.isDirectory()) return 'is not a directory'
    const uid = process.getuid?.()
    if (uid !== undefined && st.uid !== uid) return `owned by uid ${st.uid}, not this process (uid ${uid})`
    // Ours but opened up (made by hand, or by an older version): close it again.
    if ((st.mode & 0o077) !== 0) chmodSync(dir, 0o700)
    // Others who may write the parent (without the sticky bit) could swap the folder for their own.
    const parent = lstatSync(dirname(dir))
    if ((parent.mode & 0o002) !== 0 && (parent.mode & 0o1000) === 0) return `its parent ${dirname(dir)} is writable by everyone`
    return null
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? (err as Error).message
  }
}
