// Route chains and groups (zinx RouterSlices: Use, Group, AddHandler, Next,
// Abort). A chain is composed once, when its route is compiled; a route with
// no middleware is never wrapped, so it costs exactly what it did before.
import { EnetError } from '../errors.ts'
import { assertMsgId } from '../wire/codec.ts'
import type { Handler, HandlerResult, Middleware, MsgIdSet, RouteChain, RouteDefinition, RouteGroup, RouteTable, RouterObject } from '../types.ts'

const isThenable = (v: unknown): v is PromiseLike<void> =>
  typeof v === 'object' && v !== null && typeof (v as PromiseLike<void>).then === 'function'

const noop = () => {}

/**
 * middleware[0] → … → leaf, koa-style. Stays synchronous while every step
 * is. A step that calls next() but drops its promise (a missing `return`)
 * still holds the request until the rest finishes, and the rest's rejection
 * can never go unhandled (that would end the process).
 */
export function chain(middleware: readonly Middleware[], leaf: Handler, msgId: number, owner: string): Handler {
  const n = middleware.length
  return (req) => {
    const step = (i: number): HandlerResult => {
      if (i === n) return leaf(req)
      let called = false
      let rest: HandlerResult = undefined
      const r = middleware[i]!(req, () => {
        if (called) throw new EnetError('ENET_ERR_ROUTE_NEXT', [msgId, owner])
        called = true
        return (rest = step(i + 1))
      })
      if (!isThenable(rest) || rest === r) return r
      if (!isThenable(r)) return rest
      const settled = Promise.resolve(rest).then(noop, noop)
      return Promise.resolve(r).then(() => settled)
    }
    return step(0)
  }
}

/** Array.isArray does not narrow a readonly tuple. */
export const isChain = (def: RouteDefinition): def is RouteChain => Array.isArray(def)

/** Split a definition into its middleware and its route; a plain route has none. */
export function splitChain(def: RouteDefinition): { middleware: Middleware[]; leaf: Handler | RouterObject; bad: string | null } {
  if (!isChain(def)) return { middleware: [], leaf: def, bad: null }
  const list = def
  if (list.length === 0) return { middleware: [], leaf: undefined as never, bad: 'a chain needs at least the route itself' }
  const middleware = list.slice(0, -1) as Middleware[]
  const i = middleware.findIndex((m) => typeof m !== 'function')
  const bad = i < 0 ? null : `middleware ${i} of the chain must be a function (req, next), got ${middleware[i] === null ? 'null' : typeof middleware[i]}`
  return { middleware, leaf: list[list.length - 1] as Handler | RouterObject, bad }
}

/** `middleware` in front of a definition's own. */
export function prepend(middleware: readonly Middleware[], def: RouteDefinition): RouteDefinition {
  if (middleware.length === 0) return def
  return isChain(def) ? [...middleware, ...def] : [...middleware, def]
}

/** A plugin's `middleware` in front of every route of its table. */
export function withMiddleware(table: RouteTable, middleware: readonly Middleware[] | undefined): RouteTable {
  if (!middleware?.length || typeof table !== 'object' || table === null) return table
  const out: RouteTable = {}
  for (const [k, def] of Object.entries(table)) out[Number(k)] = prepend(middleware, def)
  return out
}

export function assertMiddleware(list: readonly unknown[], where: string): asserts list is Middleware[] {
  const i = list.findIndex((m) => typeof m !== 'function')
  if (i >= 0) throw new EnetError('ENET_ERR_MIDDLEWARE_INVALID', [where, i, list[i] === null ? 'null' : typeof list[i]])
}

/** Checks `msgIds` once and answers whether a msgId is in it. */
function msgIdTest(msgIds: MsgIdSet): { has(id: number): boolean; text: string } {
  const bad = (what: string) => new EnetError('ENET_ERR_ROUTE_GROUP', [JSON.stringify(msgIds) ?? String(msgIds), what])
  if (Array.isArray(msgIds)) {
    if (msgIds.length === 0) throw bad('a group needs at least one msgId')
    for (const id of msgIds) assertMsgId(id)
    const set = new Set<number>(msgIds)
    return { has: (id) => set.has(id), text: `[${msgIds.join(', ')}]` }
  }
  const { from, to } = (msgIds ?? {}) as { from: number; to: number }
  if (typeof msgIds !== 'object' || msgIds === null || !Number.isInteger(from) || !Number.isInteger(to)) {
    throw bad(`msgIds must be { from, to } or a list of msgIds, got ${JSON.stringify(msgIds)}`)
  }
  assertMsgId(from)
  assertMsgId(to)
  if (from > to) throw bad(`from ${from} is above to ${to}`)
  return { has: (id) => id >= from && id <= to, text: `${from}-${to}` }
}

/**
 * A group that hands each route, with its middleware in front, to `add`.
 * `outer()` is read per route: the `use` middleware in force when the route
 * is added comes first (zinx: Use handlers always lead).
 */
export function createGroup(msgIds: MsgIdSet, middleware: Middleware[], add: (msgId: number, def: RouteDefinition) => void, owner: string, outer: () => readonly Middleware[] = () => []): RouteGroup {
  const ids = msgIdTest(msgIds)
  assertMiddleware(middleware, `group ${ids.text}`)
  const own = [...middleware]
  const group: RouteGroup = {
    use(...more: Middleware[]) {
      assertMiddleware(more, `group ${ids.text}: use()`)
      own.push(...more)
      return group
    },
    route(msgId: number, ...steps: [...Middleware[], Handler | RouterObject]) {
      if (!ids.has(msgId)) throw new EnetError('ENET_ERR_ROUTE_INVALID', [msgId, owner, `outside its group ${ids.text}`])
      add(msgId, [...outer(), ...own, ...steps] as unknown as RouteChain)
      return group
    },
  }
  return group
}

/**
 * A group for a plugin's route table: `routes: { ...group({ from: 100, to: 199 }, auth).route(100, buy).routes }`.
 * Its routes belong to whichever plugin returns them.
 */
export function group(msgIds: MsgIdSet, ...middleware: Middleware[]): RouteGroup & { readonly routes: RouteTable } {
  const routes: RouteTable = {}
  const g = createGroup(msgIds, middleware, (msgId, def) => {
    if (msgId in routes) throw new EnetError('ENET_ERR_ROUTE_DUPLICATE', [msgId, 'this group', 'this group'])
    routes[msgId] = def
  }, 'group')
  return Object.assign(g, { routes })
}
