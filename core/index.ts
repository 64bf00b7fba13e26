// The public surface of enet. Only re-exports live here.
export { createServer, Server, type ServerOptions } from './server.ts'
export { defineConfig, resolveConfig, type EnetConfig, type EnetConfigInput } from './config.ts'
export { tlvBE, ltvLE, enetDatagram, tlvDatagram, type FrameCodec, type FrameDecoder, type DatagramCodec } from './codec.ts'
export { EnetError, codes, type ErrorCode } from './errors.ts'
export type { ServerHooks, PluginEvent, ConfigEvent } from './hooks.ts'
export type * from './types.ts'
