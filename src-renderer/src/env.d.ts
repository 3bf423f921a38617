/// <reference types="svelte" />
import type { StudioBridge } from '../../src-main/contract/index.ts'

declare global {
  interface Window {
    /** Present only inside Electron, exposed by the preload. */
    studio?: StudioBridge
  }
}
export {}
