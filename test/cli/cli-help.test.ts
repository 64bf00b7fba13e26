// `enet COMMAND --help` and `enet --version` through the real CLI: exit 0,
// every flag the command parses listed with its default.
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { ADMIN } from '../../core/cli/admin.ts'
import type { Command } from '../../core/cli/flags.ts'
import { SEND } from '../../core/cli/send.ts'
import { START } from '../../core/cli/start.ts'

const BIN = fileURLToPath(new URL('../../bin/enet.mjs', import.meta.url))
const enet = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 20_000 })

const commands: Command[] = [START, SEND, ADMIN.plugins, ADMIN.reload, ADMIN.status]

describe('enet --help', () => {
  it.concurrent.each(commands.map((c) => [c.name, c] as const))('enet %s --help lists every flag with its default, exit 0', async (name, cmd) => {
    const r = enet(name, '--help')
    expect(r.stderr).toBe('')
    expect(r.status).toBe(0)
    expect(r.stdout.split('\n')[0]).toBe(`usage: enet ${name} ${cmd.usage}`)
    for (const [flag, f] of Object.entries(cmd.flags)) {
      const row = r.stdout.split('\n').find((l) => l.includes(`--${flag}${f.value ? ` ${f.value}` : ''} `))
      expect(row, `--${flag}`).toBeDefined()
      expect(row).toContain(f.help)
      if (f.default !== undefined) expect(row).toContain(`(default: ${f.default})`)
    }
    expect(r.stdout).toMatch(/-h, --help\s+print this help and exit/)
  })

  it('-h, and --help after other flags, print the help too; a bad flag still exits 2 naming --help', () => {
    expect(enet('start', '-h')).toMatchObject({ status: 0, stdout: expect.stringMatching(/^usage: enet start/) })
    expect(enet('send', '127.0.0.1:1', '1', '--help')).toMatchObject({ status: 0, stdout: expect.stringMatching(/^usage: enet send/) })
    const bad = enet('start', '--bogus')
    expect(bad.status).toBe(2)
    expect(bad.stderr).toBe("enet: start: Unknown option '--bogus' (enet start --help lists the options)\n")
  })

  it('enet --version prints the package version; enet --help names every command', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
    expect(enet('--version')).toMatchObject({ status: 0, stdout: `${pkg.version}\n`, stderr: '' })
    expect(enet('-v').stdout).toBe(`${pkg.version}\n`)
    const help = enet('--help')
    expect(help.status).toBe(0)
    for (const c of commands) expect(help.stdout).toContain(`enet ${c.name}`)
  })
})
