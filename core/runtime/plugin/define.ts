// Identity helper: a plugin is a plain object; definePlugin only gives it types
// (ctx.options inferred from `options`).
import type { PluginDefinition } from '../../types.ts'

export function definePlugin<O extends Record<string, unknown> = Record<string, unknown>, API = unknown>(
  plugin: PluginDefinition<O, API>,
): PluginDefinition<O, API> {
  return plugin
}
