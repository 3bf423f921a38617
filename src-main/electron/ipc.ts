// IPC handlers: one per contract request channel, each checks the sender and delegates to the core.
// Only types come from 'electron' here, so tests can register against a fake ipcMain.
import type { IpcMainInvokeEvent } from 'electron'
import { REQUEST_CHANNELS } from '../contract/index.ts'
import type { RequestChannel, Response } from '../contract/index.ts'
import type { Logger } from '../core/logger.ts'

export interface IpcMainLike {
  handle(channel: string, listener: (event: IpcMainInvokeEvent, ...args: unknown[]) => unknown): void
}

export interface Dispatcher {
  dispatch(channel: unknown, params: unknown, origin?: string): Promise<Response<unknown>>
}

export function registerIpcHandlers(
  ipcMain: IpcMainLike,
  core: Dispatcher,
  isTrustedSender: (event: IpcMainInvokeEvent) => boolean,
  log: Logger,
): RequestChannel[] {
  for (const channel of REQUEST_CHANNELS) {
    ipcMain.handle(channel, async (event, params) => {
      if (!isTrustedSender(event)) {
        const from = event.senderFrame?.url ?? 'an unknown frame'
        log.warn(`Refused ${channel} from a foreign sender (${from})`)
        return { ok: false, error: { code: 'forbidden', message: `Sender ${from} may not call ${channel}` } } satisfies Response<never>
      }
      return core.dispatch(channel, params, 'renderer')
    })
  }
  return [...REQUEST_CHANNELS]
}
