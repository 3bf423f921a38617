// Which IPC senders may talk to the core: the top frame of our own window, showing our own
// index.html. Free of Electron imports so a test can check it with fake events.
import { pathToFileURL } from 'node:url'

/** The parts of an IpcMainInvokeEvent the check reads. */
export interface SenderInfo {
  sender: { id: number }
  senderFrame: { url: string; parent: unknown } | null
}

export function trustedSenderCheck(getWindowContentsId: () => number | null, rendererIndex: string) {
  const expectedUrl = pathToFileURL(rendererIndex).href
  return (event: SenderInfo): boolean => {
    const contentsId = getWindowContentsId()
    const frame = event.senderFrame
    if (contentsId === null || !frame) return false
    const frameUrl = frame.url.split('#')[0]
    return event.sender.id === contentsId && frame.parent === null && frameUrl === expectedUrl
  }
}
