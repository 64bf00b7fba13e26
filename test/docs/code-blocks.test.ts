// Every fenced block in README.md, SECURITY.md and docs/*.md runs, or is
// checked, as shown. Put a check comment on the line before each block:
//
//   <!-- check: KIND key=value key="a value" -->
//
//   plugin    ts; first line `// plugins/NAME/index.ts`. Loaded into a real server beside the
//             bundled plugins; it must load. `send=MSGID:DATA` (repeatable) injects a request that
//             must end ok; `send=MSGID:DATA=>TEXT` also wants TEXT as the first reply's data.
//   config    ts; an enet.config.ts. The server starts with it (loopback, port 0, bundled plugins),
//             so the keys and the plugin options are validated.
//   client    ts; a script run in this process against a server with the bundled plugins; the
//             port 6430 in it is replaced by that server's. It must finish within 10 s. 'enet' and
//             '@enetjs/enet' are the running core; '@enetjs/enet/client' etc. the built package.
//   typecheck ts; a fragment, only type-checked. `declare="..."` declares what it assumes.
//             (plugin, config and client blocks are type-checked too: code-blocks-types.test.ts.)
//   commands  shell lines, not run: each npm script, file or enet command must exist and know every
//             flag shown (`enet CMD --help` lists it); `npm start` is started on loopback and stopped.
//   session   `$ cmd` lines and their output. Run in order (enet commands in a temp project whose
//             server runs with the bundled plugins and the plugin blocks of the same doc, npm ones in
//             the repo); 6430 becomes the server's port. Output must equal what is shown;
//             `mask` compares the lines in any order with every number masked (a port may be shown
//             as `:P`); `contains` wants each
//             shown line somewhere in the output.
//   members   ts; an interface sketch: `of=FILE:TYPE` names the real type, whose members it must list.
//   pinned    any; `by=TEST_FILE`: that test reads this doc and asserts on the block.
//   file      any; `path=FILE`: the block is that repo file, verbatim (run it with a session block).
//
// A block with no check comment, or an unknown kind, fails the test.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import dgram from 'node:dgram'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import ts from 'typescript'
import { afterAll, describe, expect, it } from 'vitest'
import type { Outcome } from '../../core/types.ts'
import { importFresh } from '../../core/runtime/loader.ts'
import { createProject, type Project } from '../helpers/project.ts'
import { PLUGINS } from '../plugins/bundled.ts'
import { KINDS, REPO, docFiles, parseBlocks, pluginPath, where, type Block } from './blocks.ts'
import { ENET_BIN, checkCommand, commandsOf, finish, run } from './commands.ts'

const blocks = docFiles().flatMap((d) => parseBlocks(d))
const tmp = mkdtempSync(join(tmpdir(), 'enet-docs-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))


/** A port free on both TCP and UDP loopback, so `6430` in a doc maps to one number. */
async function freePort(): Promise<number> {
  for (let i = 0; i < 20; i++) {
    const srv = net.createServer()
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))
    const port = (srv.address() as net.AddressInfo).port
    const sock = dgram.createSocket('udp4')
    const ok = await new Promise<boolean>((r) => {
      sock.once('error', () => r(false))
      sock.bind(port, '127.0.0.1', () => r(true))
    })
    sock.close()
    await new Promise((r) => srv.close(r))
    if (ok) return port
  }
  throw new Error('no port free on both TCP and UDP')
}

/** A project with the bundled plugins and `files`, on loopback. */
async function serve(files: Record<string, string>, port = 0, options: Record<string, Record<string, unknown>> = {}, admin = false): Promise<Project> {
  return createProject(files, {
    flags: {
      tcp: { host: '127.0.0.1', port },
      udp: { host: '127.0.0.1', port },
      ...(admin ? {} : { admin: { socket: false } }),
      plugins: { dirs: [PLUGINS, 'plugins'], watch: false, options },
    },
  })
}

function assertAllActive(p: Project, b: Block): void {
  const bad = p.app.plugins.list().filter((x) => x.status !== 'active')
  expect(bad, `${where(b)}: plugins that did not load`).toEqual([])
}

const checks: Record<(typeof KINDS)[number], (b: Block) => Promise<void>> = {
  async plugin(b) {
    const path = pluginPath(b)
    expect(path, `${where(b)}: a plugin block starts with // plugins/NAME/index.ts`).toBeDefined()
    const p = await serve({ [path!]: b.text })
    try {
      assertAllActive(p, b)
      const mine = p.app.plugins.list().find((x) => x.dir === join(p.root, dirname(path!)))
      expect(mine, `${where(b)}: the plugin loaded`).toBeDefined()
      const outcomes: Outcome[] = []
      p.app.server.hooks.afterHandle.tap('docs', (_req, o) => void outcomes.push(o))
      for (const send of b.args.send ?? []) {
        const m = /^(\d+):(.*?)(?:=>(.*))?$/.exec(send)!
        expect(m, `${where(b)}: send=MSGID:DATA[=>REPLY], got ${send}`).not.toBeNull()
        outcomes.length = 0
        const replies = await p.app.server.inject({ msgId: Number(m[1]), data: m[2]! })
        expect(outcomes.map((o) => o.status), `${where(b)}: msgId ${m[1]} ${outcomes.map((o) => ('error' in o ? String(o.error) : '')).join(' ')}`).toEqual(['ok'])
        if (m[3] !== undefined) expect(replies[0]?.data.toString(), `${where(b)}: reply to ${send}`).toBe(m[3])
      }
    } finally {
      await p.close()
    }
  },

  async config(b) {
    const p = await serve({ 'enet.config.ts': b.text })
    try {
      assertAllActive(p, b)
    } finally {
      await p.close()
    }
  },

  async client(b) {
    const port = await freePort()
    const p = await serve({}, port)
    try {
      const dir = mkdtempSync(join(tmp, 'client-'))
      // As installed in a user app: '@enetjs/enet/…' subpaths resolve through the package's exports.
      mkdirSync(join(dir, 'node_modules', '@enetjs'), { recursive: true })
      symlinkSync(REPO, join(dir, 'node_modules', '@enetjs', 'enet'))
      const file = join(dir, 'client.ts')
      writeFileSync(file, b.text.replace(/\b6430\b/g, String(port)))
      let timer: NodeJS.Timeout | undefined
      await Promise.race([
        importFresh(file),
        new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`${where(b)}: did not finish within 10 s`)), 10_000))),
      ]).finally(() => clearTimeout(timer))
    } finally {
      await p.close()
    }
  },

  async typecheck() {
    // Compiled with every other TypeScript block in code-blocks-types.test.ts.
  },

  async commands(b) {
    for (const line of commandsOf(b.text)) await checkCommand(line)
  },

  async session(b) {
    const port = await freePort()
    const plugins = Object.fromEntries(blocks.filter((x) => x.doc === b.doc && x.kind === 'plugin').map((x) => [pluginPath(x)!, x.text]))
    const p = await serve(plugins, port, { heartbeat: { ttlMs: 60_000 } }, true)
    try {
      const steps: Array<{ cmd: string; want: string[] }> = []
      for (const line of b.text.replace(/\n$/, '').split('\n')) {
        if (line.startsWith('$ ')) steps.push({ cmd: line.slice(2).replace(/\b6430\b/g, String(port)), want: [] })
        else steps.at(-1)?.want.push(line.replace(/\b6430\b/g, String(port)))
      }
      expect(steps.length, `${where(b)}: a session has $ lines`).toBeGreaterThan(0)
      for (const { cmd, want } of steps) {
        const enet = /^(?:npx )?enet /.test(cmd)
        const shell = enet ? cmd.replace(/^(?:npx )?enet /, `'${process.execPath}' '${ENET_BIN}' `) : cmd
        const r = run('bash', ['-c', shell], { cwd: enet ? p.root : REPO, env: { npm_config_loglevel: 'silent' }, detached: true })
        const code = await finish(r, 30_000, cmd)
        expect(code, `${where(b)}: $ ${cmd}\n${r.err}`).toBe(0)
        const norm = (s: string) => (b.args.mask ? s.replace(/:P\b/g, ':0').replace(/\d+(?:\.\d+)?/g, '#') : s).replace(/\s+/g, ' ').trim()
        const got = r.out.replace(/\n$/, '').split('\n')
        if (b.args.contains) {
          const have = new Set(got.map(norm))
          for (const w of want) expect(have.has(norm(w)), `${where(b)}: $ ${cmd} printed no line like\n${w}\nit printed:\n${r.out}`).toBe(true)
        } else if (b.args.mask) {
          // Lines of concurrent actors (producers, the server) may interleave either way.
          expect(got.map(norm).sort(), `${where(b)}: $ ${cmd}`).toEqual(want.map(norm).sort())
        } else {
          expect(r.out, `${where(b)}: $ ${cmd}`).toBe(want.length ? want.join('\n') + '\n' : '')
        }
      }
    } finally {
      await p.close()
    }
  },

  async members(b) {
    const of = b.args.of?.[0]
    const m = of && /^(.+):(\w+)$/.exec(of)
    expect(m, `${where(b)}: members of=FILE:TYPE`).toBeTruthy()
    const file = join(REPO, m![1]!)
    // Member names only: nothing the file imports needs resolving.
    const program = ts.createProgram([file], { noResolve: true, noLib: true, types: [], allowImportingTsExtensions: true, noEmit: true, target: ts.ScriptTarget.ES2022 })
    const checker = program.getTypeChecker()
    const source = program.getSourceFile(file)!
    const sym = checker.getExportsOfModule(checker.getSymbolAtLocation(source)!).find((s) => s.name === m![2])
    expect(sym, `${where(b)}: ${m![1]} exports no ${m![2]}`).toBeDefined()
    const real = checker.getPropertiesOfType(checker.getDeclaredTypeOfSymbol(sym!)).map((s) => s.name).sort()
    const shown = b.text
      .split('\n')
      .slice(1)
      .map((l) => /^\s+(?:readonly\s+)?([A-Za-z_$][\w$]*)\??\s*[(:<]/.exec(l)?.[1])
      .filter((x): x is string => x !== undefined)
      .sort()
    expect(shown, `${where(b)}: the members of ${m![2]}`).toEqual(real)
  },

  async file(b) {
    const path = b.args.path?.[0]
    expect(path, `${where(b)}: file path=FILE`).toBeDefined()
    expect(b.text, `${where(b)}: the block is ${path} as it is`).toBe(readFileSync(join(REPO, path!), 'utf8'))
  },

  async pinned(b) {
    const by = b.args.by?.[0]
    expect(by, `${where(b)}: pinned by=TEST_FILE`).toBeDefined()
    const test = readFileSync(join(REPO, by!), 'utf8')
    expect(test.includes(b.doc), `${where(b)}: ${by} does not read ${b.doc}`).toBe(true)
  },
}

describe('doc code blocks', () => {
  it('every block has a check comment of a known kind', () => {
    const bad = blocks.filter((b) => !b.kind || !(KINDS as readonly string[]).includes(b.kind)).map((b) => `${where(b)}: ${b.comment ?? 'no <!-- check: KIND --> comment before the block'}`)
    expect(bad).toEqual([])
    expect(blocks.length).toBeGreaterThan(10)
  })

  for (const b of blocks) {
    if (!b.kind || !(KINDS as readonly string[]).includes(b.kind) || b.kind === 'typecheck') continue
    it(`${where(b)} ${b.comment}`, () => checks[b.kind as (typeof KINDS)[number]](b), 60_000)
  }
})
