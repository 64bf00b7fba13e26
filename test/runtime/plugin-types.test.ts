// definePlugin infers ctx.options from the plugin's own defaults; tsc checks
// these lines as part of `npm test`.
import { describe, expect, expectTypeOf, it } from 'vitest'
import { definePlugin, type PluginContext } from '../../core/index.ts'

describe('definePlugin types', () => {
  it('infers ctx.options from options in setup and routes', () => {
    const plugin = definePlugin({
      name: 'typed',
      options: { prefix: 'v1', retries: 3 },
      setup(ctx) {
        expectTypeOf(ctx.options.prefix).toEqualTypeOf<string>()
        expectTypeOf(ctx.options.retries).toEqualTypeOf<number>()
        // @ts-expect-error: not an option of this plugin
        void ctx.options.missing
      },
      routes: (ctx) => {
        expectTypeOf(ctx).toEqualTypeOf<PluginContext<{ prefix: string; retries: number }>>()
        return { 1: (req) => void req.reply(1, ctx.options.prefix) }
      },
    })
    expect(plugin.name).toBe('typed')
    expect(plugin.options).toEqual({ prefix: 'v1', retries: 3 })
  })
})
