// What a plugin's hook tap throws is wrapped with the hook and the tap's name
// (STYLE rule 7): the log says which plugin broke which hook, and the request
// it ran around is still answered.
import { afterEach, describe, expect, it } from 'vitest'
import { createProject, type Project } from '../helpers/project.ts'
import { until } from '../helpers/until.ts'

let project: Project | undefined
afterEach(async () => {
  await project?.close()
  project = undefined
})

describe('plugin hook taps', () => {
  it('a throwing afterHandle tap is logged as ENET_ERR_HOOK naming hook, plugin and tap; the reply still goes out', async () => {
    project = await createProject({
      'plugins/boomer/index.ts': `import { definePlugin } from 'enet'
export default definePlugin({
  name: 'boomer',
  setup(ctx) {
    ctx.hooks.afterHandle.tap('audit', () => { throw new Error('tap fail') })
  },
  routes: { 1: (req) => { req.reply(1, 'ok ' + req.text()) } },
})
`,
    })
    const p = project
    expect((await p.app.server.inject({ msgId: 1, data: 'x' }))[0]!.data.toString()).toBe('ok x')
    await until(() => p.logs.lines.some((l) => l.hook === 'afterHandle'), 2_000, 'the tap error line')
    const line = p.logs.lines.find((l) => l.hook === 'afterHandle')!
    expect(line).toMatchObject({ level: 50, err: { code: 'ENET_ERR_HOOK' } })
    // pino's error serializer appends the cause's message after ours.
    expect((line.err as { message: string }).message).toMatch(/^hook afterHandle tap plugin:boomer\/audit threw: tap fail/)
  })
})
