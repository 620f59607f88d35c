/** The webview's handle on the host: typed postMessage and persisted state. */

interface VsCodeApi {
  postMessage(message: unknown): void;
  getState(): unknown;
  setState(state: unknown): void;
}

declare function acquireVsCodeApi(): VsCodeApi;

export interface HostChannel<ToHost, State> {
  post(message: ToHost): void;
  /** the state saved before a hide or reload; unvalidated, so parse it */
  savedState(): unknown;
  saveState(state: State): void;
}

export function connect<ToHost, State>(): HostChannel<ToHost, State> {
  const api = acquireVsCodeApi();
  return {
    post: (message) => api.postMessage(message),
    savedState: () => api.getState(),
    saveState: (state) => api.setState(state),
  };
}

/**
 * Host messages arrive as window message events, typed by the webview's contract (HostToDashboard,
 * HostToSamples, …): the host is this extension, whose channel posts only that union
 * (src/webviews/channel.ts). The one cast is here, at the boundary; handlers switch on `type`, so a
 * contract change fails their type-check. Events without a string type (not the host's) are ignored.
 */
export function onHostMessage<T extends { type: string }>(handler: (message: T) => void): void {
  window.addEventListener('message', (event: MessageEvent<unknown>) => {
    const data = event.data;
    if (typeof data === 'object' && data !== null && typeof (data as { type?: unknown }).type === 'string') {
      handler(data as T);
    }
  });
}

/** The `default` of a switch over a host message union: a message type the switch forgot no longer compiles. */
export function exhaustive(message: never): void {
  void message;
}

/**
 * Say ready to the host, and say it again while no snapshot has come: a host that missed the first
 * (or whose snapshot failed) sends one then, so a view never stays blank waiting. Each repeat waits
 * twice as long as the last, up to 30 s.
 */
export function announceReady(sayReady: () => void, awaitingSnapshot: () => boolean, firstRepeatMs = 5_000): void {
  sayReady();
  let wait = firstRepeatMs;
  const check = (): void => {
    if (!awaitingSnapshot()) return;
    sayReady();
    wait = Math.min(wait * 2, 30_000);
    setTimeout(check, wait);
  };
  setTimeout(check, wait);
}
